"""What request capture's three parties share: the names the operator passes to the server
and to the trainer (environment variables), and the encryption types S3 knows. The server and
the trainer run without the operator, so these live in api/."""

from __future__ import annotations

import re
from typing import Final

# The HMAC key for masked inputs, filled from a Secret by reference (never a value).
ENV_MASK_KEY: Final = "MODELSHIP_CAPTURE_MASK_KEY"
# Where captured requests are (the capture storageUri), for the training run.
ENV_CAPTURE_URI: Final = "MODELSHIP_CAPTURE_URI"
SSE_AES256: Final = "AES256"
SSE_KMS: Final = "aws:kms"
SSE_TYPES: Final = (SSE_AES256, SSE_KMS)

# What may appear in a key segment made from a model or pod name.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def capture_segment(name: str) -> str:
    """A model or pod name as one segment of a capture's object key."""
    return _UNSAFE.sub("_", name) or "_"
