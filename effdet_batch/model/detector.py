"""`Detector`: images in, detections out, with the inference optimisations applied.

Optimisations: BatchNorm folded into the convolutions, channels-last memory layout, uint8 upload
from pinned memory with normalisation on the device, a CUDA stream per calling thread (so that
concurrent calls overlap upload and compute), autocast in bf16/fp16 on CUDA (fp32 by default on
CPU), and optionally `torch.compile`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from .config import get_spec
from .cpu import keep_freed_memory
from .factory import create_model
from .layers import fuse_batchnorm
from .postprocess import postprocess_batch, split_detections
from .preprocess import letterbox, normalize

__all__ = ["Detector", "resolve_device", "resolve_precision", "PRECISIONS"]

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
        name: variant, `d0`...`d7x`.
        checkpoint: as `create_model` (None = official weights, "random" = seeded random).
        device: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `auto`, `fp32`, `bf16`, `fp16` (autocast; postprocess is always float32).
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
        if self.device.type == "cpu":
            keep_freed_memory()
        model = create_model(self.spec.name, checkpoint)
        self.weights = model.weights
        model = fuse_batchnorm(model).to(self.device, memory_format=torch.channels_last)
        self.model = torch.compile(model) if compile else model
        _logger.info(
            "EfficientDet-%s on %s (%s), %d params, weights %s",
            self.spec.name, self.device, self.precision, sum(p.numel() for p in model.parameters()),
            self.weights.source if self.weights else "?",
        )

    @property
    def image_size(self) -> int:
        return self.spec.image_size

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
            One dict per image as `postprocess`.
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
        class_out, box_out = self.forward(normalize(x))
        out = postprocess_batch(class_out, box_out, self.spec.name, scales, sizes, self.max_detections,
                                self.soft_nms)
        return split_detections(out)

    def _thread_stream(self) -> torch.cuda.Stream:
        stream = getattr(self._streams, "stream", None)
        if stream is None:
            stream = self._streams.stream = torch.cuda.Stream(self.device)
        return stream

    def predict(self, images: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Detections for H x W x 3 uint8 RGB images (any sizes)."""
        if not images:
            return []
        boxed = [letterbox(image, self.image_size) for image in images]
        canvases = np.stack([canvas for canvas, _ in boxed])
        sizes = [(image.shape[1], image.shape[0]) for image in images]
        return self.detect(canvases, [scale for _, scale in boxed], sizes)
