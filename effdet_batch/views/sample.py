"""A stratified sample of a job's output, read a record batch at a time and only the columns it
needs (never the boxes), so that the output's size does not matter: what is kept is the counts
per class, the first error rows, and per class the `sample` images of smallest key.

Each image's key is a hash of the seed and its id, so the sample depends on the seed alone, not on
the order of files or rows. The strata are the classes of the detections at or above the score
(and the images with none); the sample takes from them in turn, the rarest first, so that every
class present appears when the sample is at least as large as the number of classes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..datasets import open_dataset
from ..errors import InputError, first_line
from ..uri import redact

__all__ = ["NO_DETECTION", "ClassChoice", "ClassCount", "OutputScan", "scan_output", "read_rows"]

NO_DETECTION = -1  # the stratum of images without a detection at or above the score
ERRORS_KEPT = 1000  # error rows listed; the rest are counted
BATCH_ROWS = 65_536
_SCAN_COLUMNS = ["image_id", "scores", "category_ids", "labels", "error"]


@dataclass
class ClassCount:
    category_id: int
    label: str
    detections: int = 0
    images: int = 0


@dataclass
class OutputScan:
    """What one pass over the output found. `sample`: image ids, sorted; `classes`: per category
    id, at or above the score (of the chosen classes); `errors`: the first ERRORS_KEPT
    (image_id, error) pairs of `rows_error`."""

    rows: int = 0
    rows_error: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    classes: dict[int, ClassCount] = field(default_factory=dict)
    images_without: int = 0  # processed images with no detection at or above the score
    sample: list[str] = field(default_factory=list)


def _keys(seed: int, image_ids: Sequence[str]) -> np.ndarray:
    prefix = f"{seed}\0".encode()
    return np.array([int.from_bytes(hashlib.blake2b(prefix + i.encode(), digest_size=8).digest(), "big")
                     for i in image_ids], dtype=np.uint64)


class _Smallest:
    """The `size` (key, image id) pairs of smallest key seen so far, per stratum."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def offer(self, stratum: int, keys: np.ndarray, ids: np.ndarray) -> None:
        if stratum in self.kept:
            old_keys, old_ids = self.kept[stratum]
            keys, ids = np.concatenate([old_keys, keys]), np.concatenate([old_ids, ids])
        order = np.lexsort((ids, keys))[: self.size]  # ties (never, in practice) by id
        self.kept[stratum] = keys[order], ids[order]

    def take(self, total: int, rarest_first: Sequence[int]) -> list[str]:
        """Up to `total` distinct ids, one stratum at a time in the given order, round after round."""
        chosen: dict[str, None] = {}
        queues = {s: list(self.kept[s][1]) for s in rarest_first if s in self.kept}
        while len(chosen) < total and any(queues.values()):
            for stratum in rarest_first:
                queue = queues.get(stratum, [])
                while queue and queue[0] in chosen:
                    queue.pop(0)
                if queue and len(chosen) < total:
                    chosen[queue.pop(0)] = None
        return sorted(chosen)


def _batches(uri: str, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        yield from open_dataset(uri).to_batches(columns=columns, batch_size=batch_rows)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read predictions {redact(uri)}: {first_line(exc)}") from None


@dataclass(frozen=True)
class ClassChoice:
    """The classes asked for (`--classes`): each a name, in any case, or a category id."""

    wanted: tuple[str, ...]

    @property
    def _names(self) -> list[str]:
        return sorted({w.strip().lower() for w in self.wanted})

    def accepts(self, category_id: int, label: str) -> bool:
        return str(category_id) in self._names or str(label).lower() in self._names

    def mask(self, category_ids: np.ndarray, labels: pa.Array) -> np.ndarray:
        """`accepts` of flat arrays of detections."""
        ids = np.array([int(w) for w in self._names if w.lstrip("-").isdigit()], dtype=np.int64)
        by_name = pc.is_in(pc.utf8_lower(labels), value_set=pa.array(self._names, pa.string()))
        return by_name.to_numpy(zero_copy_only=False) | np.isin(category_ids, ids)

    def missing(self, found: Iterable[ClassCount]) -> list[str]:
        """The classes asked for that match none of `found`."""
        found = list(found)
        return [w for w in self.wanted if not any(ClassChoice((w,)).accepts(c.category_id, c.label) for c in found)]


def scan_output(uri: str, sample: int, min_score: float, classes: ClassChoice | None = None, seed: int = 0,
                batch_rows: int = BATCH_ROWS) -> OutputScan:
    """One pass over the job output `uri`: counts per class at or above `min_score` (of `classes`
    only, when given), the error rows, and a stratified sample of `sample` processed images (with
    `classes`, only images that have one of them)."""
    scan = OutputScan()
    smallest = _Smallest(sample)
    for batch in _batches(uri, _SCAN_COLUMNS, batch_rows):
        scan.rows += batch.num_rows
        failed = pc.is_valid(batch.column("error")).to_numpy(zero_copy_only=False)
        if failed.any():
            scan.rows_error += int(failed.sum())
            room = ERRORS_KEPT - len(scan.errors)
            if room > 0:
                bad = batch.filter(pa.array(failed))
                scan.errors += list(zip(bad.column("image_id").to_pylist()[:room],
                                        bad.column("error").to_pylist()[:room]))
        ok = batch.filter(pa.array(~failed))
        if not ok.num_rows:
            continue
        ids = np.array(ok.column("image_id").to_pylist(), dtype=object)
        keys = _keys(seed, ids)
        scores = pc.list_flatten(ok.column("scores")).to_numpy(zero_copy_only=False)
        cats = pc.list_flatten(ok.column("category_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
        labels = pc.list_flatten(ok.column("labels"))  # names stay in Arrow: one per detection
        row = pc.list_parent_indices(ok.column("scores")).to_numpy(zero_copy_only=False)
        keep = scores >= min_score
        if classes is not None:
            keep &= classes.mask(cats, labels)
        where = np.flatnonzero(keep)
        row, cats = row[where], cats[where]
        for category, first, count in zip(*np.unique(cats, return_index=True, return_counts=True)):
            if int(category) not in scan.classes:
                label = labels[int(where[first])].as_py()
                scan.classes[int(category)] = ClassCount(int(category), str(label))
            scan.classes[int(category)].detections += int(count)
        # (image, class) pairs: each image counts once per class, and is a candidate of its classes.
        pairs = np.unique(np.stack([row, cats], axis=1), axis=0) if len(row) else np.zeros((0, 2), np.int64)
        pairs = pairs[np.argsort(pairs[:, 1], kind="stable")]
        categories, starts = np.unique(pairs[:, 1], return_index=True)
        for category, members in zip(categories, np.split(pairs[:, 0], starts[1:])):
            scan.classes[int(category)].images += len(members)
            smallest.offer(int(category), keys[members], ids[members])
        without = np.setdiff1d(np.arange(ok.num_rows), pairs[:, 0])
        scan.images_without += len(without)
        if classes is None and len(without):
            smallest.offer(NO_DETECTION, keys[without], ids[without])
    counts = {c: e.images for c, e in scan.classes.items()} | {NO_DETECTION: scan.images_without}
    scan.sample = smallest.take(sample, sorted(smallest.kept, key=lambda s: (counts[s], s)))
    return scan


def read_rows(uri: str, image_ids: Sequence[str]) -> pa.Table:
    """The whole rows of `image_ids` (a sample: few), by a filtered scan of the output."""
    import pyarrow.dataset as pds

    try:
        return open_dataset(uri).to_table(filter=pds.field("image_id").isin(pa.array(list(image_ids), pa.string())))
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read predictions {redact(uri)}: {first_line(exc)}") from None
