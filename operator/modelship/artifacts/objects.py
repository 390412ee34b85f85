"""Single objects outside the version layout, such as an evaluation sample file named by a
full `s3://bucket/key` URI: read one whole, with a size bound, through the same error words
as the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelship.api.reasons import OBJECT_NOT_FOUND, OBJECT_TOO_LARGE
from modelship.artifacts.errors import INVALID_STORAGE_URI, ArtifactError
from modelship.artifacts.s3 import client_error_code, translated_errors
from modelship.artifacts.uri import parse_storage_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def read_object(client: S3Client, uri: str, max_bytes: int) -> bytes:
    """The bytes of the object `s3://bucket/key`; ObjectNotFound when it is not there,
    ObjectTooLarge past `max_bytes`, the store's usual reasons otherwise."""
    from botocore.exceptions import ClientError

    parsed = parse_storage_uri(uri)
    if not parsed.prefix:
        raise ArtifactError(
            INVALID_STORAGE_URI, f"{uri!r} names a bucket, not an object: add the object's key."
        )
    with translated_errors(f"reading {uri}", parsed.bucket):
        try:
            response = client.get_object(Bucket=parsed.bucket, Key=parsed.prefix)
        except ClientError as err:
            code, status = client_error_code(err)
            if status == 404 and code != "NoSuchBucket":
                raise ArtifactError(OBJECT_NOT_FOUND, f"{uri} does not exist.") from None
            raise
        body = response["Body"]
        try:
            data = body.read(max_bytes + 1)
        finally:
            body.close()
    if len(data) > max_bytes:
        raise ArtifactError(OBJECT_TOO_LARGE, f"{uri} is larger than {max_bytes} bytes.")
    return data
