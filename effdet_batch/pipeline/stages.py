"""Pipeline stages as plain callables over batches (dict of numpy arrays); no Ray in here.

    read_and_prepare:  work rows (readers.WORK_SCHEMA)   -> + {canvas, scale, width, height,
                                                              decode_cpu_seconds, image_bytes}
    DetectStage:       prepared batch                     -> output rows (OUTPUT_SCHEMA)
    PrepareAndDetect:  work rows                          -> output rows, part by part (CPU actors)

Failures never drop a row: an image that cannot be read or decoded carries its `error` through to
the output.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ..errors import first_line
from ..model import Detector, letterbox
from ..model.cpu import keep_freed_memory
from ..model.detector import device_name
from ..model.labels import LabelSet
from .batch_times import Batch
from .decode import DECODE_MODES, DEFAULT_MAX_PIXELS, DecodeError, decode
from .readers import read_many
from .schema import detection_rows, error_rows

__all__ = ["read_and_prepare", "read_ahead", "DetectStage", "PrepareAndDetect"]

_logger = logging.getLogger(__name__)


def _fetched(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The batch's `bytes` and `error` columns once every image file without bytes was read
    (concurrently); an object that cannot be read gets `cannot read <uri>: <reason>`."""
    data = np.array(batch["bytes"], dtype=object)
    errors = np.array(batch["error"], dtype=object)
    unread = [i for i in range(len(data)) if data[i] is None and not errors[i]]
    for i, got in zip(unread, read_many([str(batch["source_uri"][i]) for i in unread])):
        if isinstance(got, Exception):
            errors[i] = f"cannot read {batch['source_uri'][i]}: {first_line(got)}"
        else:
            data[i] = got
    return data, errors


def read_ahead(batch: dict[str, np.ndarray], part: int) -> Iterator[dict[str, np.ndarray]]:
    """`batch` in parts of `part` rows with their image files read (`_fetched`). The parts are read
    one after another, each as soon as the one before is in, without waiting for it to be worked
    on: the next part's reads wait on storage while a part is decoded and detected, and the part
    that is needed first is not slowed by sharing the store's bandwidth with the later ones. An
    error other than an unreadable object (storage unreachable) is raised where its part is handed on."""
    count = len(batch["image_id"])
    parts = [{k: v[i:i + part] for k, v in batch.items()} for i in range(0, count, part)]
    reader = ThreadPoolExecutor(1)  # one worker: the parts' reads go in order
    try:
        for rows, fetched in [(rows, reader.submit(_fetched, rows)) for rows in parts]:
            data, errors = fetched.result()
            yield {**rows, "bytes": data, "error": errors}
    finally:
        # Given up on (an error, the call ended): the parts not yet begun are not read, one after
        # another, before the error is seen.
        reader.shutdown(cancel_futures=True)


def read_and_prepare(
    batch: dict[str, np.ndarray], image_size: int, fill: Sequence[int], max_pixels: int = DEFAULT_MAX_PIXELS,
    decode_mode: str = "fast", threads: int = 1
) -> dict[str, np.ndarray]:
    """Decode and letterbox each work row (readers.WORK_SCHEMA), reading its bytes when the shard
    did not (image files are read after the resume filter, all of a batch's at once).

    `decode_mode` "fast" decodes JPEGs of at least twice `image_size` reduced (`decode.decode`),
    "exact" everything at full size; `threads` images are decoded at once (the codecs release the
    GIL): the cores this stage has. Returns the rows without `bytes`, plus `canvas` uint8
    [B, R, R, 3], `scale` float32 [B] (canvas pixels per full-size pixel), `width`/`height` int32
    [B] (full-size displayed size), `error` ("" when fine), and what each image cost:
    `decode_cpu_seconds` float64 [B] (decode + letterbox, CPU time of the thread that did it) and
    `image_bytes` int64 [B] (encoded); failed rows get a blank canvas and keep their error.
    """
    if decode_mode not in DECODE_MODES:
        raise ValueError(f"decode_mode must be one of {DECODE_MODES}, got {decode_mode!r}")
    keep_freed_memory()  # once per worker process: large decodes then reuse their pages (model/cpu.py)
    data, fetch_errors = _fetched(batch)
    count = len(batch["image_id"])
    canvases = np.zeros((count, image_size, image_size, 3), np.uint8)
    scales = np.ones(count, np.float32)
    sizes = np.zeros((count, 2), np.int32)
    cpu_seconds = np.zeros(count, np.float64)
    nbytes = np.zeros(count, np.int64)
    errors = np.array([e or "" for e in fetch_errors], dtype=object)

    def prepare(i: int) -> None:
        began = time.thread_time()
        try:
            nbytes[i] = len(data[i])
            image = decode(data[i], image_size if decode_mode == "fast" else None, max_pixels)
            canvases[i], scale = letterbox(image.pixels, image_size, fill)
            # A DCT-scaled pixel is exactly `factor` full-size pixels on a side (libjpeg pads the
            # last block), so the factor maps the canvas back to the full-size image.
            scales[i] = scale / image.factor
            sizes[i] = image.size
        except DecodeError as exc:
            errors[i] = str(exc)
        cpu_seconds[i] = time.thread_time() - began

    todo = np.flatnonzero(errors == "")
    if threads > 1 and len(todo) > 1:
        with ThreadPoolExecutor(min(threads, len(todo))) as pool:
            list(pool.map(prepare, todo))
    else:
        for i in todo:
            prepare(i)
    out = {k: v for k, v in batch.items() if k != "bytes"}
    out.update(canvas=canvases, scale=scales, width=sizes[:, 0], height=sizes[:, 1], error=errors,
               decode_cpu_seconds=cpu_seconds, image_bytes=nbytes)
    return out


class DetectStage:
    """Runs a `Detector` on prepared batches; the model is loaded once per instance (actor).

    `report` is told once what the actor runs on; `on_batch` each finished batch (`Batch`: when,
    how many images, their decode cost), for the run's steady-state speed (`batch_times`)."""

    def __init__(
        self,
        model: str,
        weights: str | None,
        device: str,
        precision: str,
        run_id: str,
        max_detections: int = 100,
        min_score: float = 0.0,
        threads: int | None = None,
        labels: LabelSet | None = None,
        report: Callable[[dict[str, str]], None] | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        if threads:  # this process's torch threads: a CPU actor's share of its node's cores
            torch.set_num_threads(threads)
        keep_freed_memory()  # this actor's process serves activations and decoded images from its heap
        self.detector = Detector(model, checkpoint=weights, device=device, precision=precision,
                                 labels=labels, max_detections=max_detections)
        self.label_names = self.detector.labels.name_by_id
        if report is not None:  # what this actor runs on, for the run's manifest
            report({"device_name": device_name(self.detector.device), "precision": self.detector.precision})
        self.model = self.detector.spec.name
        self.sha256 = self.detector.weights.sha256 if self.detector.weights else ""
        self.run_id = run_id
        self.min_score = min_score
        self.on_batch = on_batch
        self.actor = uuid.uuid4().hex  # a restarted actor is a new one, with a start-up of its own

    def __call__(self, batch: dict[str, Any]) -> pa.Table:
        errors = np.asarray(batch["error"], dtype=object)
        ok = np.flatnonzero(errors == "")
        bad = np.flatnonzero(errors != "")
        tables = []
        if len(ok):
            sizes = np.stack([batch["width"][ok], batch["height"][ok]], 1)
            detections = self.detector.detect(batch["canvas"][ok], batch["scale"][ok], sizes)
            if self.min_score > 0:
                detections = [{k: v[d["scores"] >= self.min_score] for k, v in d.items()} for d in detections]
            tables.append(detection_rows(batch["image_id"][ok], batch["source_uri"][ok], sizes.tolist(),
                                         detections, self.label_names, self.model, self.sha256, self.run_id))
        if len(bad):
            tables.append(error_rows(batch["image_id"][bad], batch["source_uri"][bad], errors[bad].tolist(),
                                     self.model, self.sha256, self.run_id))
        if self.on_batch is not None:
            self.on_batch(Batch(self.actor, time.time(), len(errors), float(np.sum(batch["decode_cpu_seconds"])),
                                int(np.sum(batch["image_bytes"]))))
        return pa.concat_tables(tables)


class PrepareAndDetect:
    """A CPU detector actor's whole work: work rows in, output rows out, `part` images at a time
    (the detector's batch), `prepare` the keywords of `read_and_prepare` and `detect` those of
    `DetectStage`.

    A call's batch is several parts: each part's image files are read while the part before it is
    decoded and detected (`read_ahead`), so a call waits on storage once, for its first part, not
    once per part; and the part's canvases go straight to the detector, not first gathered into
    one of Ray Data's blocks with the rest of the call's."""

    def __init__(self, part: int, prepare: dict[str, Any], **detect: Any) -> None:
        self.part = part
        self.prepare = prepare
        self.detect = DetectStage(**detect)

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[pa.Table]:
        for rows in read_ahead(batch, self.part):
            yield self.detect(read_and_prepare(rows, **self.prepare))
