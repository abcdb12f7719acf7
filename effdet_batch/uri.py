"""URI helpers shared by checkpoint loading and the pipeline."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigError, first_line, scrub_credentials

__all__ = ["is_remote", "redact", "join", "basename", "check_scheme", "has_credentials"]

_REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(uri: str) -> bool:
    """True for `s3://`, `gs://`, `https://`... ; False for plain paths and `file://`."""
    return bool(_REMOTE.match(uri)) and not uri.startswith("file://")


def redact(uri: str) -> str:
    """The URI without credentials: user:password@ and query strings (pre-signed URLs) removed; the
    rest, a '#' in an object key included, is kept."""
    return scrub_credentials(uri) if _REMOTE.match(uri) else uri


def join(prefix: str, *names: str) -> str:
    """`prefix/name/...` for a local path or a URI, whether or not `prefix` ends with '/'."""
    return "/".join([prefix.rstrip("/"), *names])


def has_credentials(uri: str) -> bool:
    """True when the URI carries user:password@."""
    return bool(_REMOTE.match(uri)) and "@" in urlsplit(uri).netloc


def basename(uri: str) -> str:
    """Last path component of a path or URI, ignoring any query string."""
    path = urlsplit(uri).path if _REMOTE.match(uri) else uri
    return path.rstrip("/").rsplit("/", 1)[-1]


def check_scheme(uri: str, what: str) -> None:
    """ConfigError unless `uri` is a plain path or has a scheme fsspec can open here."""
    import fsspec

    if not _REMOTE.match(uri):
        return
    scheme = uri.split("://", 1)[0].lower()
    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise ConfigError(f"{what} {redact(uri)}: unknown URI scheme {scheme}:// "
                          "(expected a path, s3://, gs://, https://, file://)") from None
    except ImportError as exc:
        raise ConfigError(f"{what} {redact(uri)}: {scheme}:// needs a package that is not installed "
                          f"({first_line(exc)})") from None
