"""Shards -> work rows, one per image: `image_id`, `source_uri`, `bytes` (when the shard holds
them), `error` (when the image cannot be had). No Ray in here.

Image ids are stable across runs: the image's URI for files and manifest entries, and
`<shard URI>#<member name>` / `<shard URI>#<id or row number>` for tar members and Parquet rows.
A shard that cannot be read at all gives one error row whose id is the shard's URI. Archive member
names are only ever used as strings, never as paths.
"""
from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Optional

import pyarrow as pa

from ..errors import first_line
from ..uri import is_remote
from .sources import Shard, is_image_name

__all__ = ["WORK_SCHEMA", "MAX_IMAGE_BYTES", "READ_CONCURRENCY", "ReadOptions", "read_shards", "read_bytes",
           "read_many"]

WORK_SCHEMA = pa.schema(
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("bytes", pa.binary()),
        pa.field("error", pa.string()),
    ]
)
MAX_IMAGE_BYTES = 256 * 1024 * 1024  # no real photo comes near; refuses to buffer a stray video or disk image
READ_CONCURRENCY = 16  # GETs in flight per decode task: enough to hide 100 ms behind a batch's decoding
_URI_COLUMNS = ("uri", "source_uri", "url", "path")

Row = tuple[str, str, Optional[bytes], Optional[str]]


@dataclass(frozen=True)
class ReadOptions:
    """`image_column`: Parquet shards' image bytes (binary, or a struct with a `bytes` field), and a
    manifest's URI column when present. `id_column`: Parquet shards' ids (default: row number)."""

    image_column: str = "image"
    id_column: str | None = None
    rows_per_block: int = 8


def read_bytes(uri: str, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """The object's bytes in one request (a ranged GET; asking for the size first, as opening a
    file does, would cost object storage a second round trip); ValueError when it is over `limit`."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    try:
        data = fs.cat_file(path, start=0, end=limit + 1)  # a range past the end is the whole object
    except FileNotFoundError:
        raise
    except OSError:
        if fs.size(path) != 0:  # S3 answers any range of an empty object with 416, not satisfiable
            raise
        data = b""
    if len(data) > limit:
        raise ValueError(f"file is over {limit:,} bytes, too large for an image")
    return data


def read_many(uris: Sequence[str], limit: int = MAX_IMAGE_BYTES,
              concurrency: int = READ_CONCURRENCY) -> list[bytes | OSError | ValueError]:
    """The bytes of each object, fetched concurrently: one GET from object storage waits 20-100 ms
    for its first byte, so a batch read one object at a time waits a round trip per image. An
    object that cannot be read (vanished, forbidden, too large) gives its error in its place."""
    def read(uri: str) -> bytes | OSError | ValueError:
        try:
            return read_bytes(uri, limit)
        except (OSError, ValueError) as exc:
            return exc

    if len(uris) <= 1:
        return [read(u) for u in uris]
    with ThreadPoolExecutor(min(concurrency, len(uris))) as pool:  # fsspec's clients are thread-safe
        return list(pool.map(read, uris))


def _file_rows(uri: str, options: ReadOptions) -> Iterator[Row]:
    yield uri, uri, None, None  # bytes are read by the decode stage, after resume filtering


def _tar_rows(uri: str, options: ReadOptions) -> Iterator[Row]:
    import fsspec

    member = None
    try:
        with fsspec.open(uri, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                if not member.isfile() or not is_image_name(member.name):
                    continue
                image_id = f"{uri}#{member.name}"
                if member.size > MAX_IMAGE_BYTES:
                    yield image_id, uri, None, f"tar member is {member.size:,} bytes, too large for an image"
                    continue
                try:
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                except (tarfile.TarError, OSError, EOFError) as exc:
                    yield image_id, uri, None, f"truncated tar member: {first_line(exc)}"
                    return  # a stream cannot go past a truncated member
                yield image_id, uri, data, None
    except (tarfile.TarError, OSError, EOFError) as exc:
        where = f" after member {member.name!r}" if member is not None else ""
        yield uri, uri, None, f"cannot read tar shard{where}: {first_line(exc)}"


def _image_column(table_schema: pa.Schema, column: str) -> str | None:
    """Why `column` cannot hold the images, or None when it can."""
    if column not in table_schema.names:
        return f"Parquet shard has no column {column!r} (it has {', '.join(table_schema.names)})"
    kind = table_schema.field(column).type
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        kind = kind.field("bytes").type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        return f"Parquet column {column!r} is {kind}, expected binary image bytes"
    return None


def _parquet_rows(uri: str, options: ReadOptions) -> Iterator[Row]:
    import fsspec
    import pyarrow.parquet as pq

    column, id_column = options.image_column, options.id_column
    try:
        with fsspec.open(uri, "rb") as f:
            shard = pq.ParquetFile(f)
            schema = shard.schema_arrow
            problem = _image_column(schema, column)
            if problem is None and id_column and id_column not in schema.names:
                problem = f"Parquet shard has no id column {id_column!r} (it has {', '.join(schema.names)})"
            if problem:
                yield uri, uri, None, problem
                return
            columns = [column] + ([id_column] if id_column else [])
            row = 0
            for batch in shard.iter_batches(batch_size=max(options.rows_per_block, 64), columns=columns):
                images = batch.column(column)
                if pa.types.is_struct(images.type):
                    images = images.field("bytes")
                ids = batch.column(id_column).to_pylist() if id_column else [None] * batch.num_rows
                for offset, (key, data) in enumerate(zip(ids, images.to_pylist())):
                    image_id = f"{uri}#{key if key is not None else row + offset}"
                    yield image_id, uri, data, None if data is not None else f"image column {column!r} is null"
                row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        yield uri, uri, None, f"cannot read Parquet shard: {first_line(exc)}"


def _pick_column(names: list[str], options: ReadOptions) -> str:
    preferred = (options.image_column, *_URI_COLUMNS)
    return next((c for c in preferred if c in names), names[0])


def _manifest_entries(f, uri: str, options: ReadOptions) -> Iterator[str]:
    name = uri.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        shard = pq.ParquetFile(f)
        column = _pick_column(shard.schema_arrow.names, options)
        for batch in shard.iter_batches(columns=[column]):
            yield from (str(v) for v in batch.column(0).to_pylist() if v is not None)
    elif name.endswith((".csv", ".tsv")):
        import pyarrow.csv as pcsv

        delimiter = "\t" if name.endswith(".tsv") else ","
        reader = pcsv.open_csv(f, parse_options=pcsv.ParseOptions(delimiter=delimiter))
        index = reader.schema.names.index(_pick_column(reader.schema.names, options))
        for batch in reader:
            yield from (str(v) for v in batch.column(index).to_pylist() if v is not None)
    else:
        for line in f:
            yield line.decode("utf-8").strip()


def _resolve(entry: str, manifest: str) -> str:
    """A manifest entry as a URI; relative entries are relative to the manifest's folder."""
    if is_remote(entry) or entry.startswith(("/", "file://")):
        return entry
    scheme, sep, path = manifest.rpartition("://")
    folder = posixpath.dirname(path)
    return f"{scheme}{sep}{posixpath.normpath(posixpath.join(folder, entry))}"


def _manifest_rows(uri: str, options: ReadOptions) -> Iterator[Row]:
    import fsspec

    seen: set[str] = set()
    try:
        with fsspec.open(uri, "rb") as f:
            for entry in _manifest_entries(f, uri, options):
                entry = entry.strip()
                if not entry or entry.startswith("#"):
                    continue
                image = _resolve(entry, uri)
                if image not in seen:  # a URI listed twice is one image
                    seen.add(image)
                    yield image, image, None, None
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        yield uri, uri, None, f"cannot read manifest: {first_line(exc)}"


_READERS = {"files": _file_rows, "tar": _tar_rows, "parquet": _parquet_rows, "manifest": _manifest_rows}


def read_shards(shards: Iterable[Shard], options: ReadOptions) -> Iterator[pa.Table]:
    """Work rows of `shards` as WORK_SCHEMA tables of at most `rows_per_block` rows (small blocks
    keep the decode stage parallel)."""
    rows = (row for shard in shards for row in _READERS[shard.kind](shard.uri, options))
    while chunk := list(islice(rows, options.rows_per_block)):
        image_ids, uris, data, errors = zip(*chunk)
        yield pa.Table.from_arrays(
            [pa.array(image_ids, pa.string()), pa.array(uris, pa.string()),
             pa.array(data, pa.binary()), pa.array(errors, pa.string())],
            schema=WORK_SCHEMA,
        )
