"""What the inputs are: each `--input` URI resolved (on the driver) into shards of a known format.

Formats:
    files     image files (jpg, jpeg, png, webp, bmp, gif, tif, tiff, heic, heif, avif; any case); one
              shard per image
    tar       tar shards in WebDataset layout; their image members are the images
    parquet   Parquet shards with a binary image column (and optionally an id column)
    manifest  text (one URI per line), CSV or Parquet files listing image URIs, so that a lake of
              millions of objects is never listed

`auto` tells them apart by suffix. A prefix is searched at any depth, and its files of other kinds
are skipped; a manifest is only ever a file named directly (a stray notes.txt under a prefix of
images is not a manifest).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, InputError
from ..listing import list_files
from ..uri import redact

__all__ = ["FORMATS", "IMAGE_SUFFIXES", "WORK_LIST_SCHEMA", "Shard", "WorkList", "is_image_name", "kinds_of",
           "resolve_inputs"]

FORMATS = ("auto", "files", "tar", "parquet", "manifest")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                            ".heic", ".heif", ".avif"})
_SUFFIXES = {
    "files": IMAGE_SUFFIXES,
    "tar": frozenset({".tar", ".tgz"}),
    "parquet": frozenset({".parquet", ".pq"}),
    "manifest": frozenset({".txt", ".lst", ".csv", ".tsv", ".parquet", ".pq"}),
}
# Under `auto`, a prefix holds images, tar shards and Parquet shards; manifests are named directly.
_AUTO_IN_PREFIX = ("files", "tar", "parquet")
_AUTO_FILE = ("files", "tar", "parquet", "manifest")
# `_suffix` over a column: the last `.xxx` of the name, not the whole name (`.jpg` has none).
_SUFFIX_PATTERN = r"[^/]+(?P<suffix>\.[^./]+)$"

WORK_LIST_SCHEMA = pa.schema([("kind", pa.string()), ("uri", pa.string()), ("size", pa.int64())])


@dataclass(frozen=True)
class Shard:
    """One unit of input: an image file, a tar shard, a Parquet shard or a manifest."""

    kind: str
    uri: str
    size: int | None = None  # bytes of the file, as listed


@dataclass(frozen=True)
class WorkList:
    """The job's inputs as Arrow columns (`WORK_LIST_SCHEMA`), one row per shard: a lake of a
    million image files is three arrays on the driver, not a million objects. Iterating gives
    `Shard`s, for a read task's part or a caller that reads a few."""

    table: pa.Table

    def __len__(self) -> int:
        return self.table.num_rows

    def __iter__(self) -> Iterator[Shard]:
        for batch in self.table.to_batches(max_chunksize=4096):
            yield from (Shard(*row) for row in zip(*(c.to_pylist() for c in batch.columns)))

    def counts(self) -> dict[str, int]:
        """Shards of each kind, in order of first appearance."""
        return {c["values"]: c["counts"] for c in pc.value_counts(self.table["kind"]).to_pylist()}

    def take(self, rows: np.ndarray) -> WorkList:
        """These rows as a list of their own, copied: a slice of an Arrow table pickles with the
        whole table's buffers, and a read task's part travels to a worker."""
        return WorkList(self.table.take(rows))


def _suffix(path: str) -> str:
    name = PurePosixPath(path).name.lower()
    return ".tar" if name.endswith((".tar.gz", ".tar")) else PurePosixPath(name).suffix


def is_image_name(path: str) -> bool:
    return _suffix(path) in IMAGE_SUFFIXES


def _kind_by_suffix(kinds: tuple[str, ...]) -> dict[str, str]:
    """Each suffix's kind: the first of `kinds` that has it (`.parquet` is a shard before a manifest)."""
    return {suffix: kind for kind in reversed(kinds) for suffix in _SUFFIXES[kind]}


def _kind(path: str, kinds: tuple[str, ...]) -> str | None:
    return _kind_by_suffix(kinds).get(_suffix(path))


def kinds_of(uris: pa.Array | pa.ChunkedArray, kinds: tuple[str, ...]) -> pa.Array:
    """`_kind` of each URI, column-wise: the kind, or null for a name of none of `kinds`."""
    lower = pc.utf8_lower(uris)
    suffix = pc.struct_field(pc.extract_regex(lower, _SUFFIX_PATTERN), "suffix")
    suffix = pc.if_else(pc.ends_with(lower, ".tar.gz"), ".tar", suffix)
    table = _kind_by_suffix(kinds)
    return pc.take(pa.array(list(table.values()), pa.string()),
                   pc.index_in(suffix, value_set=pa.array(list(table), pa.string())))


def resolve_inputs(
    inputs: tuple[str, ...] | list[str], fmt: str = "auto", exclude: tuple[str, ...] = ()
) -> WorkList:
    """The shards of every input (`fmt`: one of FORMATS), in input order and sorted within each;
    duplicates dropped. Prefixes in `exclude` (the job's own output) and metadata names
    (`listing.is_metadata`) under a prefix are not inputs.

    Raises InputError for an input that does not exist, cannot be listed or holds nothing of the
    format, and ConfigError for a file whose format `auto` cannot tell.
    """
    found = []
    for uri in inputs:
        listing = list_files(uri, "input", exclude=exclude)
        files = listing.files
        if listing.is_file:
            kind = fmt if fmt != "auto" else _kind(uri, _AUTO_FILE)
            if kind is None:
                raise ConfigError(f"cannot tell the format of {redact(uri)} from its name: pass --format")
            kinds = pa.array([kind], pa.string())
        else:
            kinds = kinds_of(files["uri"], _AUTO_IN_PREFIX if fmt == "auto" else (fmt,))
            if kinds.null_count == len(kinds):
                wanted = "images, tar or Parquet shards" if fmt == "auto" else f"{fmt} inputs"
                raise InputError(f"input {redact(uri)} holds no {wanted} ({len(kinds)} other files)")
        shards = pa.table([kinds, files["uri"], files["size"]], schema=WORK_LIST_SCHEMA)
        found.append(shards.filter(pc.is_valid(kinds)))
    table = pa.concat_tables(found) if found else WORK_LIST_SCHEMA.empty_table()
    return WorkList(_first_of_each(table) if len(found) > 1 else table)


def _first_of_each(table: pa.Table) -> pa.Table:
    """The rows whose URI no earlier row has (index_in gives a value's first position)."""
    first = pc.index_in(table["uri"], value_set=table["uri"])
    return table.filter(pc.equal(first, pa.array(np.arange(table.num_rows), first.type)))
