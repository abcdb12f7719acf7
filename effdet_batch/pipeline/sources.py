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

from dataclasses import dataclass
from pathlib import PurePosixPath

from ..errors import ConfigError, InputError
from ..listing import list_files
from ..uri import redact

__all__ = ["FORMATS", "IMAGE_SUFFIXES", "Shard", "is_image_name", "resolve_inputs"]

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


@dataclass(frozen=True)
class Shard:
    """One unit of input: an image file, a tar shard, a Parquet shard or a manifest."""

    kind: str
    uri: str
    size: int | None = None  # bytes of the file, as listed


def _suffix(path: str) -> str:
    name = PurePosixPath(path).name.lower()
    return ".tar" if name.endswith((".tar.gz", ".tar")) else PurePosixPath(name).suffix


def is_image_name(path: str) -> bool:
    return _suffix(path) in IMAGE_SUFFIXES


def _kind(path: str, kinds: tuple[str, ...]) -> str | None:
    suffix = _suffix(path)
    return next((k for k in kinds if suffix in _SUFFIXES[k]), None)


def resolve_inputs(
    inputs: tuple[str, ...] | list[str], fmt: str = "auto", exclude: tuple[str, ...] = ()
) -> list[Shard]:
    """The shards of every input (`fmt`: one of FORMATS), in input order and sorted within each;
    duplicates dropped. Prefixes in `exclude` (the job's own output) and metadata names
    (`listing.is_metadata`) under a prefix are not inputs.

    Raises InputError for an input that does not exist, cannot be listed or holds nothing of the
    format, and ConfigError for a file whose format `auto` cannot tell.
    """
    shards: dict[str, Shard] = {}
    for uri in inputs:
        listing = list_files(uri, "input", exclude=exclude, detail=True)
        is_file, paths = listing.is_file, listing.uris
        if is_file:
            kind = fmt if fmt != "auto" else _kind(uri, _AUTO_FILE)
            if kind is None:
                raise ConfigError(f"cannot tell the format of {redact(uri)} from its name: pass --format")
            found = [Shard(kind, uri, listing.sizes[0])]
        else:
            kinds = _AUTO_IN_PREFIX if fmt == "auto" else (fmt,)
            found = [Shard(k, p, size) for p, size in zip(paths, listing.sizes) if (k := _kind(p, kinds))]
            if not found:
                wanted = "images, tar or Parquet shards" if fmt == "auto" else f"{fmt} inputs"
                raise InputError(f"input {redact(uri)} holds no {wanted} ({len(paths)} other files)")
        for shard in found:
            shards.setdefault(shard.uri, shard)
    return list(shards.values())

