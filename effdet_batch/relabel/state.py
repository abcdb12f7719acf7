"""The lake's listing and the state of the last successful run, kept under the output prefix.

An object is identified by its URI and versioned by (size, ETag) on object storage or (size,
mtime) on a filesystem: a new URI or a new version is work to do. Listings and states are Arrow
tables (`STATE_SCHEMA`), compared column-wise: a lake of a million objects is a few arrays, not a
million Python tuples (benchmarks/relabel_state.py).
"""
from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError
from ..listing import list_files
from ..pipeline.sources import kinds_of
from ..uri import join, redact

__all__ = ["STATE_DIR", "STATE_SCHEMA", "list_lake", "changed_objects", "load_state", "save_state", "load_pending",
           "save_pending", "clear_pending"]

STATE_DIR = "_relabel"  # "_": skipped when the output is read as a dataset
STATE_SCHEMA = pa.schema([("uri", pa.string()), ("size", pa.int64()), ("version", pa.string())])


def list_lake(lake: str, exclude: tuple[str, ...] = ()) -> pa.Table:
    """Every image object under `lake`, at any depth, with its size and version (`STATE_SCHEMA`);
    prefixes in `exclude` (the labels' own output, when kept in the lake) left out."""
    found = list_files(lake, "lake", exclude=exclude)
    if found.is_file:
        raise InputError(f"lake {redact(lake)} is a file: give the folder or prefix of the images")
    return found.files.filter(pc.is_valid(kinds_of(found.files["uri"], ("files",)))).cast(STATE_SCHEMA)


def changed_objects(current: pa.Table, previous: pa.Table) -> tuple[list[str], list[str]]:
    """(new URIs, URIs whose size or version changed), each sorted; both tables `STATE_SCHEMA`.

    Each current URI's row in the previous state comes from a hash set of the previous URIs
    (`index_in`); a joined table of the whole lake, three times the memory, is never made."""
    at = pc.index_in(current["uri"], value_set=previous["uri"])
    same = pc.and_(pc.equal(current["size"], pc.take(previous["size"], at)),
                   pc.equal(current["version"], pc.take(previous["version"], at)))
    new, changed = pc.is_null(at), pc.invert(pc.fill_null(same, True))
    return tuple(sorted(current["uri"].filter(mask).to_pylist()) for mask in (new, changed))


def load_state(output: str) -> pa.Table:
    """The listing the last successful run labelled (`STATE_SCHEMA`, read column-wise); empty
    before the first."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(join(output, STATE_DIR, "state.parquet"))
    if not fs.exists(path):
        return STATE_SCHEMA.empty_table()
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=STATE_SCHEMA.names).cast(STATE_SCHEMA)


def save_state(output: str, listing: pa.Table) -> None:
    """Replace the state with `listing` (as `list_lake` gives it: by URI) in one write (an object
    PUT is atomic: readers see the old or the new)."""
    import fsspec

    buf = io.BytesIO()
    pq.write_table(listing.select(STATE_SCHEMA.names), buf)
    with fsspec.open(join(output, STATE_DIR, "state.parquet"), "wb") as f:
        f.write(buf.getbuffer())


def _pending_uri(output: str) -> str:
    return join(output, STATE_DIR, "pending.json")


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
