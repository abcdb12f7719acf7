"""Listing a path or prefix into the files it holds: one helper for the job's inputs, the nightly
lake and the report's inputs.

Names starting with `_` or `.` below the listed root are metadata, not data (Spark's `_SUCCESS`,
pyarrow's `_metadata`, Ray Data's `_checkpoint/`, this project's `_manifest-*.json` and
`_relabel/`, macOS's `.DS_Store`), and are skipped unless asked for by `pattern`. Prefixes given in
`exclude` are left out whole: the job never reads its own output as input when the labels are kept
in the lake (`--output s3://lake/labels/` under `--input s3://lake/`).

A lake holds millions of objects, so the listing streams into Arrow columns (`LISTING_SCHEMA`) a
chunk at a time: a local folder is walked with `os.scandir` (metadata folders and excluded prefixes
are never entered), S3 is read a page of keys at a time (s3fs's `_iterdir`, which keeps nothing in
the filesystem's listings cache, unlike `find`), other stores through fsspec's `find`
(benchmarks/work_list.py).
"""
from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import pyarrow as pa

from .errors import InputError, first_line
from .uri import redact

__all__ = ["LISTING_SCHEMA", "Listing", "list_files", "is_metadata"]

LISTING_SCHEMA = pa.schema([("uri", pa.string()), ("size", pa.int64()), ("version", pa.string())])
_CHUNK = 65_536  # entries held as Python objects at a time, before they become Arrow columns

Entry = tuple[str, int, str]  # uri, size, version (ETag on object storage, mtime on a filesystem)


@dataclass(frozen=True)
class Listing:
    """What `list_files` found: `files` (`LISTING_SCHEMA`) sorted by URI; `is_file` when the root
    itself is a file (then `files` is just the root)."""

    files: pa.Table
    is_file: bool

    @property
    def uris(self) -> list[str]:
        """The URIs as Python strings, for callers that list a few files (the report's inputs)."""
        return self.files["uri"].to_pylist()


def is_metadata(relative: str) -> bool:
    """True for a path (relative to the listed root) with a component starting with `_` or `.`."""
    return any(part.startswith(("_", ".")) for part in relative.split("/") if part)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _wanted_name(name: str, pattern: str | None) -> bool:
    if pattern is None:
        return not name.startswith(("_", "."))
    return fnmatch.fnmatch(name, pattern)  # a name it matches is kept even with a leading `_`


def list_files(uri: str, what: str, *, pattern: str | None = None, exclude: Sequence[str] = ()) -> Listing:
    """The files under `uri` at any depth (or `uri` itself when it names a file), with their sizes
    and versions.

    Args:
        what: names `uri` in errors ("input", "lake", "report input").
        pattern: a glob that file names must match; a name it matches is kept even when it starts
            with `_` (the report's `_manifest-*.json`).
        exclude: URIs or paths of prefixes to leave out, whole.

    Raises:
        InputError: `uri` does not exist or cannot be listed (one line, credentials removed).
    """
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        if fs.isfile(root):
            info = fs.info(root)
            return Listing(pa.Table.from_pylist([{"uri": uri, "size": int(info["size"]), "version": _version(info)}],
                                                schema=LISTING_SCHEMA), True)
        if not fs.isdir(root):
            raise InputError(f"{what} {redact(uri)} does not exist (no such file, prefix or bucket)")
        excluded = [fsspec.core.url_to_fs(e)[1].rstrip("/") for e in exclude]
        if isinstance(fs, LocalFileSystem):
            files = _table(_walk_local(root, set(excluded), pattern))
        elif "s3" in _protocols(fs):
            files = _s3_table(fs, root, _data_key(root, excluded, pattern))
        else:
            keep = _data_key(root, excluded, pattern)
            files = _table((fs.unstrip_protocol(p), int(i["size"]), _version(i))
                           for p, i in fs.find(root, detail=True).items()
                           if i.get("type", "file") == "file" and keep(p))
    except InputError:
        raise
    except Exception as exc:  # credentials, unknown bucket, network: say which and why
        raise InputError(f"cannot list {what} {redact(uri)}: {first_line(exc)}") from None
    return Listing(files.sort_by("uri"), False)


def _batch(entries: list[Entry]) -> pa.RecordBatch:
    uris, sizes, versions = zip(*entries) if entries else ((), (), ())
    return pa.record_batch([pa.array(uris, pa.string()), pa.array(sizes, pa.int64()),
                            pa.array(versions, pa.string())], schema=LISTING_SCHEMA)


def _table(entries: Iterable[Entry]) -> pa.Table:
    """The entries as Arrow columns, made a chunk at a time."""
    entries, batches = iter(entries), []
    while chunk := list(islice(entries, _CHUNK)):
        batches.append(_batch(chunk))
    return pa.Table.from_batches(batches, schema=LISTING_SCHEMA)


def _walk_local(root: str, excluded: set[str], pattern: str | None) -> Iterator[Entry]:
    """Files under the folder `root`; metadata folders and excluded prefixes are not entered.
    Versions are mtimes written as fsspec's `info` gives them (relabel's saved states compare them)."""
    folders = [root]
    while folders:
        with os.scandir(folders.pop()) as found:
            for entry in found:
                if entry.path in excluded:
                    continue
                # Links are neither folders nor files, as in fsspec's find.
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(("_", ".")):
                        folders.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and _wanted_name(entry.name, pattern):
                    stat = entry.stat(follow_symlinks=False)
                    yield entry.path, stat.st_size, str(stat.st_mtime)


def _data_key(root: str, excluded: Sequence[str], pattern: str | None) -> Callable[[str], bool]:
    """The test of a key of a flat listing (every key under `root`, folders not listed): not in a
    metadata folder or an excluded prefix, a wanted name, not a folder placeholder (`a/`)."""
    base = root.rstrip("/") + "/"

    def keep(path: str) -> bool:
        folder, _, name = path.rpartition("/")
        relative = folder[len(base):] if folder.startswith(base) else ""
        return bool(name) and not is_metadata(relative) and _wanted_name(name, pattern) and not _under(path, excluded)

    return keep


def _s3_table(fs, root: str, keep: Callable[[str], bool]) -> pa.Table:
    """The kept keys under `root`, read a page of 1,000 at a time on fsspec's event loop."""
    from fsspec.asyn import sync

    bucket, key, _ = fs.split_path(root)

    async def pages() -> list[pa.RecordBatch]:
        batches, chunk = [], []
        async for info in fs._iterdir(bucket, delimiter="", prefix=key.rstrip("/") + "/" if key else ""):
            if keep(info["name"]):
                chunk.append((fs.unstrip_protocol(info["name"]), int(info["size"]), _version(info)))
            if len(chunk) == _CHUNK:
                batches.append(_batch(chunk))
                chunk = []
        return [*batches, _batch(chunk)]

    return pa.Table.from_batches(sync(fs.loop, pages), schema=LISTING_SCHEMA)


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def _version(info: dict) -> str:
    return str(info.get("ETag") or info.get("mtime") or info.get("LastModified"))
