"""URI helpers shared by checkpoint loading and the pipeline."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_remote", "redact", "basename"]

_REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(uri: str) -> bool:
    """True for `s3://`, `gs://`, `https://`... ; False for plain paths and `file://`."""
    return bool(_REMOTE.match(uri)) and not uri.startswith("file://")


def redact(uri: str) -> str:
    """The URI without credentials: user:password@ and query strings (pre-signed URLs) removed."""
    if not _REMOTE.match(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def basename(uri: str) -> str:
    """Last path component of a path or URI, ignoring any query string."""
    path = urlsplit(uri).path if _REMOTE.match(uri) else uri
    return path.rstrip("/").rsplit("/", 1)[-1]
