"""Where an S3 store is and who we are to it: plain data, with no client and no I/O, so the
pure code that turns a ModelDeployment's spec and Secret into it (reconcile/) needs nothing
that talks to S3."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class S3Settings:
    """Where the store is and who we are; None = boto3's usual chain (env, config files,
    instance roles): AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID ..."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    # Kept out of repr so the secret can never reach a log line or an exception message.
    secret_access_key: str | None = field(default=None, repr=False)
