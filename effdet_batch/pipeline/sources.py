"""Listing the images of an input URI (local path, s3://, gs://...) through fsspec."""
from __future__ import annotations

from pathlib import PurePosixPath

from ..errors import InputError, first_line
from ..uri import redact

__all__ = ["IMAGE_SUFFIXES", "list_images"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def list_images(uri: str) -> list[str]:
    """URIs of the image files under `uri` at any depth (other files skipped), sorted; or `uri`
    itself when it is one file. Raises InputError when it does not exist or cannot be listed."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        if fs.isfile(root):
            return [uri]
        if not fs.isdir(root):
            raise InputError(f"input {redact(uri)} does not exist (no such file, prefix or bucket)")
        paths = fs.find(root)
    except InputError:
        raise
    except Exception as exc:  # credentials, unknown bucket, network: say which input and why
        reason = first_line(exc)
        raise InputError(f"cannot list input {redact(uri)}: {reason}") from None
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    return sorted(
        p if local else fs.unstrip_protocol(p)
        for p in paths
        if PurePosixPath(p).suffix.lower() in IMAGE_SUFFIXES
    )
