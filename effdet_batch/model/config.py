"""Architecture tables for EfficientNet B0-B7 and EfficientDet D0-D7x.

EfficientNet: Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019
(https://arxiv.org/abs/1905.11946). EfficientDet: Tan, Pang & Le, "EfficientDet: Scalable and
Efficient Object Detection", CVPR 2020 (https://arxiv.org/abs/1911.09070), Table 1.

The numbers here are those of the public TensorFlow checkpoints (google/automl) as ported to
PyTorch by the effdet package, whose `tf_efficientdet_*` files this project loads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from ..errors import ConfigError

__all__ = [
    "StageSpec",
    "BackboneSpec",
    "DetectorSpec",
    "B0_STAGES",
    "BACKBONES",
    "DETECTORS",
    "get_spec",
    "paper_scaling",
]

Fusion = Literal["fast_normalized", "sum"]


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks of the EfficientNet-B0 table (before compound scaling)."""

    block: Literal["ds", "ir"]  # depthwise-separable (MBConv1) or inverted residual (MBConvN)
    repeats: int
    kernel: int
    stride: int
    expand: int
    out_channels: int
    se_ratio: float = 0.25


# EfficientNet-B0, Table 1 of the EfficientNet paper (the 3x3/2 32-channel stem is separate).
B0_STAGES: tuple[StageSpec, ...] = (
    StageSpec("ds", repeats=1, kernel=3, stride=1, expand=1, out_channels=16),
    StageSpec("ir", repeats=2, kernel=3, stride=2, expand=6, out_channels=24),
    StageSpec("ir", repeats=2, kernel=5, stride=2, expand=6, out_channels=40),
    StageSpec("ir", repeats=3, kernel=3, stride=2, expand=6, out_channels=80),
    StageSpec("ir", repeats=3, kernel=5, stride=1, expand=6, out_channels=112),
    StageSpec("ir", repeats=4, kernel=5, stride=2, expand=6, out_channels=192),
    StageSpec("ir", repeats=1, kernel=3, stride=1, expand=6, out_channels=320),
)
STEM_CHANNELS = 32
# Stages whose outputs are C3 (stride 8), C4 (stride 16) and C5 (stride 32).
FEATURE_STAGES = (2, 4, 6)


def round_channels(channels: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of `divisor`, never dropping below 90%."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class BackboneSpec:
    """An EfficientNet scaled from B0: width multiplies channels, depth multiplies repeats."""

    name: str
    width: float
    depth: float
    bn_eps: float = 1e-3  # TensorFlow's default, used by the TF checkpoints

    @property
    def stem_channels(self) -> int:
        return round_channels(STEM_CHANNELS * self.width)

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        return tuple(
            replace(
                s,
                repeats=int(math.ceil(s.repeats * self.depth)),
                out_channels=round_channels(s.out_channels * self.width),
            )
            for s in B0_STAGES
        )

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of C3, C4, C5."""
        return tuple(self.stages[i].out_channels for i in FEATURE_STAGES)


# (width, depth) coefficients of the B0-B7 family (EfficientNet paper, Sec. 3.3; the resolution
# coefficient is not used: the detector fixes its own input size).
BACKBONES: dict[str, BackboneSpec] = {
    f"b{i}": BackboneSpec(f"tf_efficientnet_b{i}", width=w, depth=d)
    for i, (w, d) in enumerate(
        [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1)]
    )
}

_RELEASE = "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/"


@dataclass(frozen=True)
class DetectorSpec:
    """One EfficientDet variant: everything that fixes its architecture and its weights."""

    name: str
    backbone: str
    image_size: int
    fpn_channels: int
    fpn_repeats: int
    head_repeats: int
    fusion: Fusion
    checkpoint_url: str
    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    num_scales: int = 3
    aspect_ratios: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.4, 0.7), (0.7, 1.4))
    num_classes: int = 90

    def __post_init__(self) -> None:
        if self.image_size % 2 ** self.max_level:
            raise ValueError(
                f"image_size {self.image_size} must be divisible by {2 ** self.max_level} "
                f"(the stride of P{self.max_level})"
            )

    @property
    def num_levels(self) -> int:
        return self.max_level - self.min_level + 1

    @property
    def num_anchors(self) -> int:
        """Anchors per feature-map location."""
        return self.num_scales * len(self.aspect_ratios)

    @property
    def backbone_spec(self) -> BackboneSpec:
        return BACKBONES[self.backbone]

    @property
    def checkpoint_name(self) -> str:
        return self.checkpoint_url.rsplit("/", 1)[-1]


def paper_scaling(phi: int) -> dict[str, object]:
    """The compound-scaling formulas of the EfficientDet paper (Eq. 1-3) for coefficient `phi`."""
    return dict(
        backbone=f"b{phi}",
        image_size=512 + 128 * phi,
        fpn_channels=64 * 1.35**phi,
        fpn_repeats=3 + phi,
        head_repeats=3 + phi // 3,
    )


def _variant(name: str, phi: int, url_file: str, **published: object) -> DetectorSpec:
    """A variant from the paper's formulas, with the published model's values where they differ.

    The formulas give unrounded BiFPN widths; every variant states its published width.
    """
    values = paper_scaling(phi)
    values.update(published)
    values.setdefault("fusion", "fast_normalized")
    return DetectorSpec(name=name, checkpoint_url=_RELEASE + url_file, **values)  # type: ignore[arg-type]


# EfficientDet paper Table 1 / the published checkpoints. Keyword arguments after the file name
# are where the published models depart from `paper_scaling` (rounding, caps for D5+).
DETECTORS: dict[str, DetectorSpec] = {
    s.name: s
    for s in (
        _variant("d0", 0, "tf_efficientdet_d0_34-f153e0cf.pth", fpn_channels=64),
        _variant("d1", 1, "tf_efficientdet_d1_40-a30f94af.pth", fpn_channels=88),
        _variant("d2", 2, "tf_efficientdet_d2_43-8107aa99.pth", fpn_channels=112),
        _variant("d3", 3, "tf_efficientdet_d3_47-0b525f35.pth", fpn_channels=160),
        _variant("d4", 4, "tf_efficientdet_d4_49-f56376d9.pth", fpn_channels=224),
        _variant(
            "d5", 5, "tf_efficientdet_d5_51-c79f9be6.pth",
            fpn_channels=288, fpn_repeats=7, image_size=1280,
        ),
        # D6 and up fuse BiFPN inputs by a plain sum instead of fast normalized fusion.
        _variant(
            "d6", 6, "tf_efficientdet_d6_52-4eda3773.pth",
            fpn_channels=384, fpn_repeats=8, fusion="sum",
        ),
        _variant(
            "d7", 7, "tf_efficientdet_d7_53-6d1d7a95.pth",
            backbone="b6", fpn_channels=384, fpn_repeats=8, image_size=1536, fusion="sum",
            anchor_scale=5.0,
        ),
        _variant(
            "d7x", 7, "tf_efficientdet_d7x-f390b87c.pth",
            backbone="b7", fpn_channels=384, fpn_repeats=8, image_size=1536, fusion="sum",
            max_level=8,
        ),
    )
}

# Published COCO val2017 AP of the checkpoints above (effdet release notes / paper).
PUBLISHED_COCO_AP: dict[str, float] = {
    "d0": 34.3, "d1": 40.2, "d2": 43.5, "d3": 46.8, "d4": 49.3,
    "d5": 51.2, "d6": 52.1, "d7": 53.4, "d7x": 54.4,
}


def get_spec(name: str) -> DetectorSpec:
    """Resolve `d0`, `efficientdet-d0` or `tf_efficientdet_d0` (any case) to its spec."""
    key = str(name).strip().lower()
    for prefix in ("tf_efficientdet_", "efficientdet-", "efficientdet_"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if key not in DETECTORS:
        raise ConfigError(
            f"unknown model {name!r}: expected one of {', '.join(DETECTORS)} "
            "(also accepted as efficientdet-d0 or tf_efficientdet_d0)"
        )
    return DETECTORS[key]
