"""The lake's listing and the state of the last successful run, kept under the output prefix.

An object is identified by its URI and versioned by (size, ETag) on object storage or (size,
mtime) on a filesystem: a new URI or a new version is work to do.
"""
from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..listing import list_files
from ..pipeline.sources import is_image_name
from ..uri import redact

__all__ = ["STATE_DIR", "list_lake", "changed_objects", "load_state", "save_state", "load_pending",
           "save_pending", "clear_pending"]

STATE_DIR = "_relabel"  # "_": skipped when the output is read as a dataset
Listing = dict[str, tuple[int, str]]  # URI -> (size, version)


def _join(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


def list_lake(lake: str, exclude: tuple[str, ...] = ()) -> Listing:
    """Every image object under `lake`, at any depth, with its size and version; prefixes in
    `exclude` (the labels' own output, when kept in the lake) left out."""
    found = list_files(lake, "lake", keep=is_image_name, exclude=exclude, detail=True)
    if found.is_file:
        raise InputError(f"lake {redact(lake)} is a file: give the folder or prefix of the images")
    return {uri: (size, version) for uri, size, version in zip(found.uris, found.sizes, found.versions)}


def changed_objects(current: Listing, previous: Listing) -> tuple[list[str], list[str]]:
    """(new URIs, URIs whose version changed), each sorted."""
    new = sorted(uri for uri in current if uri not in previous)
    changed = sorted(uri for uri, version in current.items() if uri in previous and previous[uri] != version)
    return new, changed


def load_state(output: str) -> Listing:
    """The listing the last successful run labelled; empty before the first."""
    import fsspec

    uri = _join(output, f"{STATE_DIR}/state.parquet")
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return {}
    table = pq.read_table(io.BytesIO(fs.cat(path)))
    return {u: (s, v) for u, s, v in zip(*(table[c].to_pylist() for c in ("uri", "size", "version")))}


def save_state(output: str, listing: Listing) -> None:
    """Replace the state in one write (an object PUT is atomic: readers see the old or the new)."""
    import fsspec

    uris = sorted(listing)
    table = pa.table({"uri": uris, "size": pa.array([listing[u][0] for u in uris], pa.int64()),
                      "version": [listing[u][1] for u in uris]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with fsspec.open(_join(output, f"{STATE_DIR}/state.parquet"), "wb") as f:
        f.write(buf.getvalue())


def _pending_uri(output: str) -> str:
    return _join(output, f"{STATE_DIR}/pending.json")


def load_pending(output: str) -> dict[str, Any] | None:
    """The run that started and did not finish (its id and partition), to be resumed."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(_pending_uri(output))
    return json.loads(fs.cat(path)) if fs.exists(path) else None


def save_pending(output: str, pending: dict[str, Any]) -> None:
    import fsspec

    with fsspec.open(_pending_uri(output), "w") as f:
        json.dump(pending, f)


def clear_pending(output: str) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(_pending_uri(output))
    fs.rm(path)
