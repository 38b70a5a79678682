"""`s3://bucket/key` of one object, split and checked (the pipeline's one parser for such URIs)."""

from __future__ import annotations


def split_object_uri(uri: str) -> tuple[str, str]:
    """(bucket, key); ValueError naming the URI if it is not s3:// or lacks a bucket or a key."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3:// URI needs a bucket and a key: {uri!r}")
    return bucket, key
