"""`Detector`: images in, detections out, with the inference optimisations applied.

Optimisations: BatchNorm folded into the convolutions, channels-last memory layout, uint8 upload
from pinned memory with normalisation on the device, a CUDA stream per calling thread (so that
concurrent calls overlap upload and compute), autocast in bf16/fp16 on CUDA (fp32 by default on
CPU), and optionally `torch.compile`. On the CPU, call `keep_freed_memory()` (model/cpu.py) once
in the process: a process-wide malloc setting, so it is the caller's (the job's stages and the
CLIs make it), not the constructor's.
"""
from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from .config import get_spec
from .factory import create_model
from .labels import LabelOrder, LabelSet, resolve_labels
from .layers import fuse_batchnorm
from .postprocess import postprocess_batch, split_detections
from .preprocess import letterbox, normalize

__all__ = ["Detector", "resolve_device", "resolve_precision", "device_name", "PRECISIONS"]

_logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` is the first CUDA GPU when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA GPU is visible to this process")
    return resolved


def device_name(device: torch.device) -> str:
    """What a device is, for manifests and benchmark records: the GPU's name, or the CPU's model
    with this process's torch threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{torch.get_num_threads()} threads"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """`auto` is bf16 on GPUs that support it (fp16 on older ones) and fp32 on the CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}: expected auto, {', '.join(PRECISIONS)}")
    return precision  # type: ignore[return-value]


class Detector:
    """An EfficientDet ready for inference.

    Args:
        name: variant, `d0`...`d7x`, `lite0`...`lite4`, `lite3x`, `d0_ap`...`d5_ap`.
        checkpoint: as `create_model` (None = official weights, "random" = seeded random).
        device: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `auto`, `fp32`, `bf16`, `fp16` (autocast; postprocess is always float32).
        num_classes: as `create_model` (None: the checkpoint's; 90 for random weights).
        labels: class names and ids (`resolve_labels`: a label file, a list of names, a
            `LabelSet`); None gives COCO's for a 90-class head, else ids 1..N named class_<id>.
        label_order: `id` or `position` to force how a label file maps (default: by id when
            every id fits the head, else by position).
        max_detections: per image, after NMS.
        soft_nms: Gaussian soft-NMS instead of hard NMS.
        compile: run the network through `torch.compile` (slow first batch, faster after).

    Example:
        >>> det = Detector("d0", checkpoint="random", device="cpu")
        >>> det.predict([np.zeros((480, 640, 3), np.uint8)])[0]["boxes"].shape
        (100, 4)
    """

    def __init__(
        self,
        name: str,
        checkpoint: str | Mapping[str, torch.Tensor] | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        *,
        num_classes: int | None = None,
        labels: str | Sequence[str] | LabelSet | None = None,
        label_order: LabelOrder | None = None,
        max_detections: int = 100,
        soft_nms: bool = False,
        compile: bool = False,
    ) -> None:
        self.spec = get_spec(name)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if max_detections < 1:
            raise ConfigError(f"max_detections must be at least 1, got {max_detections}")
        self.max_detections = max_detections
        self.soft_nms = soft_nms
        self._streams = threading.local()
        model = create_model(self.spec.name, checkpoint, num_classes)
        self.weights = model.weights
        self.num_classes = model.num_classes
        self.labels = resolve_labels(labels, self.num_classes, label_order)
        if labels is None and self.num_classes != 90:
            _logger.warning("no labels given for a %d-class head: classes are ids 1..%d named class_<id> "
                            "(give --labels / labels= for their names)", self.num_classes, self.num_classes)
        self._class_ids = np.asarray(self.labels.ids, dtype=np.int32)  # index -> category id
        model = fuse_batchnorm(model).to(self.device, memory_format=torch.channels_last)
        self.model = torch.compile(model) if compile else model
        _logger.info(
            "EfficientDet-%s on %s (%s), %d params, %d classes (%s labels), weights %s%s",
            self.spec.name, self.device, self.precision, sum(p.numel() for p in model.parameters()),
            self.num_classes, self.labels.source, self.weights.source,
            f" ({self.weights.state})" if self.weights.state else "",
        )

    @property
    def image_size(self) -> int:
        return self.spec.image_size

    @property
    def fill(self) -> tuple[int, int, int]:
        """Letterbox fill colour (0-255) of this variant's weights."""
        return self.spec.pretrained.fill

    def preprocess(
        self, images: Sequence[np.ndarray]
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """H x W x 3 uint8 RGB images -> (x, scales, image_sizes): x the normalised float32 batch
        [B, 3, R, R] on this detector's device, as `forward` takes it; scales [B] resized /
        original; image_sizes [B, 2] original (width, height)."""
        canvases, scales, sizes = self._letterbox(images)
        return self._normalize(torch.from_numpy(canvases).to(self.device)), scales, sizes

    def _letterbox(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxed = [letterbox(image, self.image_size, self.fill) for image in images]
        canvases = np.stack([canvas for canvas, _ in boxed])
        scales = np.array([scale for _, scale in boxed], dtype=np.float32)
        sizes = np.array([(image.shape[1], image.shape[0]) for image in images], dtype=np.int32).reshape(-1, 2)
        return canvases, scales, sizes

    def _normalize(self, canvases: torch.Tensor) -> torch.Tensor:
        return normalize(canvases, self.spec.pretrained.mean, self.spec.pretrained.std)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The network at this detector's precision: normalised [B, 3, R, R] on its device ->
        (class_outputs, box_outputs) per level."""
        with torch.autocast(self.device.type, dtype=PRECISIONS[self.precision],
                            enabled=self.precision != "fp32"):
            return self.model(x)

    @torch.inference_mode()
    def detect(
        self,
        canvases: np.ndarray | torch.Tensor,
        scales: Sequence[float] | np.ndarray,
        image_sizes: Sequence[tuple[int, int]] | np.ndarray,
    ) -> list[dict[str, np.ndarray]]:
        """Detections for letterboxed images.

        Args:
            canvases: uint8 [B, R, R, 3] from `letterbox` (R = `image_size`).
            scales: [B] resized / original from `letterbox`.
            image_sizes: [B, 2] original (width, height).

        Returns:
            One dict per image as `postprocess`, with `classes` the label set's category ids.
        """
        x = torch.as_tensor(canvases)
        expected = (self.image_size, self.image_size, 3)
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"canvases must be uint8 [B, {expected[0]}, {expected[1]}, 3], "
                             f"got {x.dtype} {tuple(x.shape)}")
        scales = torch.as_tensor(np.asarray(scales, dtype=np.float32))
        sizes = torch.as_tensor(np.asarray(image_sizes, dtype=np.float32).reshape(-1, 2))
        if self.device.type != "cuda":
            return self._detect(x, scales, sizes)
        # Each calling thread works on a stream of its own: with two batches in flight (the
        # pipeline's GPU actors take two calls at once), one batch's upload and post-processing
        # overlap the other's compute instead of queueing behind it on the default stream.
        with torch.cuda.stream(self._thread_stream()):
            return self._detect(x.pin_memory().to(self.device, non_blocking=True), scales, sizes)

    def _detect(self, x: torch.Tensor, scales: torch.Tensor, sizes: torch.Tensor) -> list[dict[str, np.ndarray]]:
        class_out, box_out = self.forward(self._normalize(x))
        out = postprocess_batch(class_out, box_out, self.spec.name, scales, sizes, self.max_detections,
                                self.soft_nms)
        detections = split_detections(out)
        for d in detections:
            d["classes"] = self._class_ids[d["classes"] - 1]
        return detections

    def _thread_stream(self) -> torch.cuda.Stream:
        stream = getattr(self._streams, "stream", None)
        if stream is None:
            stream = self._streams.stream = torch.cuda.Stream(self.device)
        return stream

    def predict(self, images: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Detections for H x W x 3 uint8 RGB images (any sizes); `classes` are category ids."""
        if not images:
            return []
        return self.detect(*self._letterbox(images))
