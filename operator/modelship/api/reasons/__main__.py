"""`python -m modelship.api.reasons` prints docs/reasons.md (make reasons)."""

import sys

from modelship.api.reasons import markdown

sys.stdout.write(markdown())
