"""Listing a path or prefix into the files it holds: one helper for the job's inputs, the nightly
lake and the report's inputs.

Names starting with `_` or `.` below the listed root are metadata, not data (Spark's `_SUCCESS`,
pyarrow's `_metadata`, Ray Data's `_checkpoint/`, this project's `_manifest-*.json` and
`_relabel/`, macOS's `.DS_Store`), and are skipped unless asked for by `pattern`. Prefixes given in
`exclude` are left out whole: the job never reads its own output as input when the labels are kept
in the lake (`--output s3://lake/labels/` under `--input s3://lake/`).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import InputError, first_line
from .uri import is_remote, redact

__all__ = ["Listing", "list_files", "is_metadata"]


@dataclass(frozen=True)
class Listing:
    """What `list_files` found: `uris` sorted; `is_file` when the root itself is a file (then
    `uris` is just the root); `sizes` and `versions` (ETag on object storage, mtime on a
    filesystem) beside them when asked for."""

    uris: list[str]
    is_file: bool
    sizes: list[int] | None = None
    versions: list[str] | None = None


def is_metadata(relative: str) -> bool:
    """True for a path (relative to the listed root) with a component starting with `_` or `.`."""
    return any(part.startswith(("_", ".")) for part in relative.split("/") if part)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def list_files(
    uri: str,
    what: str,
    *,
    keep: Callable[[str], bool] | None = None,
    pattern: str | None = None,
    exclude: Sequence[str] = (),
    detail: bool = False,
) -> Listing:
    """The files under `uri` at any depth (or `uri` itself when it names a file).

    Args:
        what: names `uri` in errors ("input", "lake", "report input").
        keep: a test of a file's path: files that fail it are left out.
        pattern: a glob that file names must match; a name it matches is kept even when it starts
            with `_` (the report's `_manifest-*.json`).
        exclude: URIs or paths of prefixes to leave out, whole.
        detail: also return each file's size and version.

    Raises:
        InputError: `uri` does not exist or cannot be listed (one line, credentials removed).
    """
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        if fs.isfile(root):
            info = fs.info(root) if detail else {}
            return Listing([uri], True, *(([int(info["size"])], [_version(info)]) if detail else ()))
        if not fs.isdir(root):
            raise InputError(f"{what} {redact(uri)} does not exist (no such file, prefix or bucket)")
        found = fs.find(root, detail=True)
    except InputError:
        raise
    except Exception as exc:  # credentials, unknown bucket, network: say which and why
        raise InputError(f"cannot list {what} {redact(uri)}: {first_line(exc)}") from None
    excluded = [fsspec.core.url_to_fs(e)[1].rstrip("/") for e in exclude]
    base = root.rstrip("/") + "/"
    kept = []
    for path in sorted(found):
        info = found[path]
        name = path.rsplit("/", 1)[-1]
        if info.get("type", "file") != "file" or _under(path, excluded):
            continue
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            continue
        relative = path[len(base):] if path.startswith(base) else name
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        if is_metadata(folder) or (is_metadata(name) and pattern is None):
            continue
        if keep is None or keep(path):
            kept.append((path, info))
    uris = [fs.unstrip_protocol(p) if is_remote(uri) else p for p, _ in kept]
    if not detail:
        return Listing(uris, False)
    return Listing(uris, False, [int(i["size"]) for _, i in kept], [_version(i) for _, i in kept])


def _version(info: dict) -> str:
    return str(info.get("ETag") or info.get("mtime") or info.get("LastModified"))
