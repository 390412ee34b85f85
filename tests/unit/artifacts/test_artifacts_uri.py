"""Storage URIs: what users may write, and the keys they lead to."""

from __future__ import annotations

import re

import pytest

from modelship.api import SpecError, parse_spec
from modelship.api.spec import STORAGE_URI_PATTERN
from modelship.artifacts import ArtifactError, StorageUri, parse_storage_uri


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://models/digits", "models", "digits"),
        ("s3://models/team/digits/", "models", "team/digits"),
        ("s3://models", "models", ""),
        ("s3://models/", "models", ""),
        ("s3://my.bucket-1/a", "my.bucket-1", "a"),
    ],
)
def test_valid_uris_parse(uri: str, bucket: str, prefix: str) -> None:
    assert parse_storage_uri(uri) == StorageUri(bucket=bucket, prefix=prefix)


@pytest.mark.parametrize(
    "uri",
    [
        "models/digits",
        "http://models/digits",
        "gs://models/digits",
        "s3:///digits",
        "s3://Models/digits",
        "s3://a/digits",
        "s3://models/../other",
        "s3://models/a//b",
        "s3://models/./a",
        "s3://models/a\\b",
    ],
)
def test_invalid_uris_are_refused_with_a_reason(uri: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        parse_storage_uri(uri)
    assert caught.value.reason == "InvalidStorageUri"
    assert "s3://" in caught.value.message


def test_version_keys() -> None:
    uri = parse_storage_uri("s3://models/team/digits")
    assert uri.version_prefix(3) == "team/digits/3/"
    assert uri.key(3, "variables/variables.index") == "team/digits/3/variables/variables.index"
    assert str(uri) == "s3://models/team/digits"


def test_version_keys_at_the_bucket_root() -> None:
    uri = parse_storage_uri("s3://models")
    assert uri.version_prefix(1) == "1/"
    assert str(uri) == "s3://models"


@pytest.mark.parametrize(
    "uri",
    [
        "s3://models//x",
        "s3://models//",
        "s3://models/x//",
        "s3://models/team//digits",
        "s3://models/x/..",
        "s3://models/./x",
        "s3://models/a\\b",
    ],
)
def test_the_crd_pattern_parse_spec_and_the_uri_parser_refuse_a_bad_path_alike(
    uri: str,
) -> None:
    assert not re.search(STORAGE_URI_PATTERN, uri), "the API server would let it in"
    with pytest.raises(SpecError) as spec_refusal:
        parse_spec({"model": {"storageUri": uri}}, name="digits")
    with pytest.raises(ArtifactError) as uri_refusal:
        parse_storage_uri(uri)
    assert spec_refusal.value.field == "spec.model.storageUri"
    assert spec_refusal.value.message == f'spec.model.storageUri "{uri}" must look like {HINT}'
    assert uri_refusal.value.reason == "InvalidStorageUri"
    assert uri_refusal.value.message == f'"{uri}" must look like {HINT}.'


@pytest.mark.parametrize(
    "uri",
    ["s3://models", "s3://models/", "s3://models/x/", "s3://models/.hidden/...x/a.b"],
)
def test_what_the_crd_pattern_accepts_both_parsers_accept(uri: str) -> None:
    assert re.search(STORAGE_URI_PATTERN, uri)
    assert parse_spec({"model": {"storageUri": uri}}, name="digits").model.storage_uri == uri
    parse_storage_uri(uri)


HINT = (
    '"s3://bucket/path/to/model": a bucket, then path segments that are not empty, "." or ".." '
    "and hold no backslash"
)
