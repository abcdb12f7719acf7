"""Thumbnails of a job's images, made from its sources as the job read them: image files and
manifest entries, tar members and Parquet rows, through the job's own readers and decoder (EXIF and
HEIF orientation applied, HEIC and AVIF included), then written as JPEG, which every browser shows.
A source that can no longer be read (vanished, changed, not an image) gives its reason instead."""
from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from ..errors import EffdetBatchError, first_line
from ..pipeline.decode import DecodeError, decode
from ..pipeline.readers import ReadOptions, read_many, read_shards
from ..pipeline.sources import resolve_inputs
from ..pipeline.summary import read_manifests

__all__ = ["THUMBNAIL_SIDE", "Thumbnail", "thumbnail_size", "read_options", "make_thumbnails"]

THUMBNAIL_SIDE = 320  # px, the long side: a card in a grid of a few per row
_QUALITY = 85


@dataclass(frozen=True)
class Thumbnail:
    """`name`: the file's path relative to the page; `width`, `height`: its pixels; `size`: the
    full-size displayed (width, height) of the image it shows."""

    name: str
    data: bytes
    width: int
    height: int
    size: tuple[int, int]


def thumbnail_size(width: int, height: int, side: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """The pixel size of a `width` x `height` image's thumbnail: long side `side`, never enlarged."""
    scale = min(1.0, side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_options(predictions: str) -> ReadOptions:
    """How the runs beside the Parquet read their Parquet shards (image and id columns, from their
    manifests' config); the job's defaults when there are no manifests."""
    for run in read_manifests(predictions):
        config = run.config or {}
        if "image_column" in config:
            return ReadOptions(config["image_column"], config.get("id_column"))
    return ReadOptions()


def _shard_bytes(shard_uri: str, wanted: set[str], options: ReadOptions) -> dict[str, bytes | str]:
    """The bytes of the `wanted` members or rows of one tar or Parquet shard, read as the job reads
    it (to the last one wanted); a reason for each that cannot be had."""
    try:
        shards = resolve_inputs([shard_uri])
    except EffdetBatchError as exc:
        return dict.fromkeys(wanted, f"source unavailable: {exc}")
    found: dict[str, bytes | str] = {}
    for block in read_shards(shards, options):
        for image_id, data, error in zip(*(block[c].to_pylist() for c in ("image_id", "bytes", "error"))):
            if image_id in wanted:
                found[image_id] = data if data is not None else f"source unavailable: {error}"
            elif image_id == shard_uri and error:  # the whole shard failed
                return dict.fromkeys(wanted, f"source unavailable: {error}")
        if len(found) == len(wanted):
            break
    return {i: found.get(i, f"source unavailable: no longer in {shard_uri}") for i in wanted}


def _source_bytes(rows: Iterable[tuple[str, str]], options: ReadOptions) -> dict[str, bytes | str]:
    """(image_id, source_uri) -> the image's bytes, or why they cannot be had. A row whose id is
    its source is a file (or manifest entry); the others are members of their shard."""
    import fsspec

    files, shards = [], defaultdict(set)
    for image_id, source in rows:
        if image_id == source:
            files.append(image_id)
        else:
            shards[source].add(image_id)
    for uri in {*files, *shards}:
        # This process may have listed them before (the nightly run lists its lake): an object
        # rewritten since would be refused by its old cached ETag. Read them as they are now.
        fs, path = fsspec.core.url_to_fs(uri)
        fs.invalidate_cache(path)
    out: dict[str, bytes | str] = {}
    try:
        found = read_many(files)
    except Exception as exc:  # storage refusing all of them (no credentials): the page shows why
        found = [exc] * len(files)
    for uri, got in zip(files, found):
        out[uri] = got if isinstance(got, bytes) else f"source unavailable: {first_line(got)}"
    for shard, wanted in shards.items():
        try:
            out.update(_shard_bytes(shard, wanted, options))
        except Exception as exc:
            out.update(dict.fromkeys(wanted, f"source unavailable: {first_line(exc)}"))
    return out


def _thumbnail(image_id: str, data: bytes, side: int) -> Thumbnail | str:
    try:
        decoded = decode(data, fit=side)
    except DecodeError as exc:
        return f"source unreadable now: {exc}"
    width, height = thumbnail_size(*decoded.size, side)
    image = Image.fromarray(decoded.pixels)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=_QUALITY)
    name = f"thumbs/{hashlib.sha256(image_id.encode()).hexdigest()[:20]}.jpg"
    return Thumbnail(name, buf.getvalue(), width, height, decoded.size)


def make_thumbnails(rows: Iterable[tuple[str, str]], options: ReadOptions,
                    side: int = THUMBNAIL_SIDE) -> dict[str, Thumbnail | str]:
    """(image_id, source_uri) of job rows -> each image's thumbnail, or why it has none."""
    return {image_id: _thumbnail(image_id, got, side) if isinstance(got, bytes) else got
            for image_id, got in _source_bytes(rows, options).items()}
