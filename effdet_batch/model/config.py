"""Architecture tables for EfficientNet B0-B7 / Lite0-4 and EfficientDet D0-D7x, Lite0-4, Lite3x
and the AdvProp D0-D5, with the facts of each variant's published weights.

EfficientNet: Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019
(https://arxiv.org/abs/1905.11946). EfficientDet: Tan, Pang & Le, "EfficientDet: Scalable and
Efficient Object Detection", CVPR 2020 (https://arxiv.org/abs/1911.09070), Table 1. AdvProp: Xie et
al., "Adversarial Examples Improve Image Recognition", CVPR 2020 (https://arxiv.org/abs/1911.09665).

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
    "Pretrained",
    "DetectorSpec",
    "B0_STAGES",
    "BACKBONES",
    "DETECTORS",
    "get_spec",
    "paper_scaling",
]

Fusion = Literal["fast_normalized", "sum"]
Activation = Literal["swish", "relu6"]


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
    """An EfficientNet scaled from B0: width multiplies channels, depth multiplies repeats.

    EfficientNet-Lite (`lite=True`) is the mobile-friendly form: ReLU6 instead of swish, no
    squeeze-excitation, and the stem and the first and last stages are not scaled.
    """

    name: str
    width: float
    depth: float
    lite: bool = False

    @property
    def act(self) -> Activation:
        return "relu6" if self.lite else "swish"

    @property
    def stem_channels(self) -> int:
        return STEM_CHANNELS if self.lite else round_channels(STEM_CHANNELS * self.width)

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        last = len(B0_STAGES) - 1
        return tuple(
            replace(
                s,
                repeats=s.repeats if self.lite and i in (0, last) else int(math.ceil(s.repeats * self.depth)),
                out_channels=round_channels(s.out_channels * self.width),
                se_ratio=0.0 if self.lite else s.se_ratio,
            )
            for i, s in enumerate(B0_STAGES)
        )

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of C3, C4, C5."""
        return tuple(self.stages[i].out_channels for i in FEATURE_STAGES)


# (width, depth) coefficients of the B0-B7 family (EfficientNet paper, Sec. 3.3; the resolution
# coefficient is not used: the detector fixes its own input size).
_COEFFICIENTS = [(1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4), (1.4, 1.8), (1.6, 2.2), (1.8, 2.6), (2.0, 3.1)]
BACKBONES: dict[str, BackboneSpec] = {
    **{f"b{i}": BackboneSpec(f"tf_efficientnet_b{i}", width=w, depth=d) for i, (w, d) in enumerate(_COEFFICIENTS)},
    # Lite0-4 take the coefficients of B0-B4.
    **{f"lite{i}": BackboneSpec(f"tf_efficientnet_lite{i}", width=w, depth=d, lite=True)
       for i, (w, d) in enumerate(_COEFFICIENTS[:5])},
}

_RELEASE = "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Pretrained:
    """The published weights of a variant: where they are and what they expect and give.

    `mean`/`std` normalise RGB in [0, 1]; `fill` (0-255) pads the letterbox. The D and Lite
    models were trained on ImageNet statistics (Lite: 0.5), AdvProp on inputs scaled to [-1, 1].
    `coco_ap` is the COCO val2017 AP the TF original reports (effdet's README gives it beside its
    own evaluation); the weights predict COCO's 90-id category list.
    """

    url: str
    coco_ap: float
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    fill: tuple[int, int, int] = tuple(round(255 * m) for m in IMAGENET_MEAN)  # type: ignore[assignment]
    num_classes: int = 90

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _pretrained(file: str, coco_ap: float, **normalisation: object) -> Pretrained:
    return Pretrained(url=_RELEASE + file, coco_ap=coco_ap, **normalisation)  # type: ignore[arg-type]


_LITE_INPUT = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), fill=(128, 128, 128))
_ADVPROP_INPUT = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), fill=(0, 0, 0))


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
    pretrained: Pretrained
    act: Activation = "swish"
    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    num_scales: int = 3
    aspect_ratios: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.4, 0.7), (0.7, 1.4))

    @property
    def feature_sizes(self) -> tuple[int, ...]:
        """Side of each level's feature map, P_min..P_max: every stride-2 layer of TF "SAME" padding
        rounds up, so a size that is not a multiple of 2^max_level (Lite0's 320) still works."""
        sizes = [self.image_size]
        for _ in range(self.max_level):
            sizes.append((sizes[-1] - 1) // 2 + 1)
        return tuple(sizes[self.min_level:])

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
    def checkpoint_url(self) -> str:
        return self.pretrained.url

    @property
    def checkpoint_name(self) -> str:
        return self.pretrained.file_name


def paper_scaling(phi: int) -> dict[str, object]:
    """The compound-scaling formulas of the EfficientDet paper (Eq. 1-3) for coefficient `phi`."""
    return dict(
        backbone=f"b{phi}",
        image_size=512 + 128 * phi,
        fpn_channels=64 * 1.35**phi,
        fpn_repeats=3 + phi,
        head_repeats=3 + phi // 3,
    )


def _variant(name: str, phi: int, pretrained: Pretrained, **published: object) -> DetectorSpec:
    """A variant from the paper's formulas, with the published model's values where they differ.

    The formulas give unrounded BiFPN widths; every variant states its published width.
    """
    values = paper_scaling(phi)
    values.update(published)
    values.setdefault("fusion", "fast_normalized")
    return DetectorSpec(name=name, pretrained=pretrained, **values)  # type: ignore[arg-type]


def _lite(name: str, phi: int, pretrained: Pretrained, **published: object) -> DetectorSpec:
    """EfficientDet-Lite: an EfficientNet-Lite backbone, ReLU6 throughout, plain-sum BiFPN (no
    fusion weights: friendlier to quantisation) and, for most, a smaller anchor scale."""
    values: dict[str, object] = dict(backbone=f"lite{phi}", act="relu6", fusion="sum", anchor_scale=3.0)
    values.update(published)
    return _variant(name, phi, pretrained, **values)


def _advprop(d: DetectorSpec, pretrained: Pretrained) -> DetectorSpec:
    """The AdvProp-trained weights of a D variant: same network, other input normalisation."""
    return replace(d, name=f"{d.name}_ap", pretrained=pretrained)


# EfficientDet paper Table 1 / the published checkpoints. Keyword arguments after the weights are
# where the published models depart from `paper_scaling` (rounding, caps for D5+).
_D = (
    _variant("d0", 0, _pretrained("tf_efficientdet_d0_34-f153e0cf.pth", 34.3), fpn_channels=64),
    _variant("d1", 1, _pretrained("tf_efficientdet_d1_40-a30f94af.pth", 40.2), fpn_channels=88),
    _variant("d2", 2, _pretrained("tf_efficientdet_d2_43-8107aa99.pth", 43.5), fpn_channels=112),
    _variant("d3", 3, _pretrained("tf_efficientdet_d3_47-0b525f35.pth", 46.8), fpn_channels=160),
    _variant("d4", 4, _pretrained("tf_efficientdet_d4_49-f56376d9.pth", 49.3), fpn_channels=224),
    _variant(
        "d5", 5, _pretrained("tf_efficientdet_d5_51-c79f9be6.pth", 51.2),
        fpn_channels=288, fpn_repeats=7, image_size=1280,
    ),
    # D6 and up fuse BiFPN inputs by a plain sum instead of fast normalized fusion.
    _variant(
        "d6", 6, _pretrained("tf_efficientdet_d6_52-4eda3773.pth", 52.1),
        fpn_channels=384, fpn_repeats=8, fusion="sum",
    ),
    _variant(
        "d7", 7, _pretrained("tf_efficientdet_d7_53-6d1d7a95.pth", 53.4),
        backbone="b6", fpn_channels=384, fpn_repeats=8, image_size=1536, fusion="sum",
        anchor_scale=5.0,
    ),
    _variant(
        "d7x", 7, _pretrained("tf_efficientdet_d7x-f390b87c.pth", 54.4),
        backbone="b7", fpn_channels=384, fpn_repeats=8, image_size=1536, fusion="sum",
        max_level=8,
    ),
)
# EfficientDet-Lite (automl's efficientdet/README, "EfficientDet-lite"): smaller inputs than D of the
# same phi; Lite3 and Lite4 keep anchor scale 4, Lite3x is Lite3 at 640 px with a wider BiFPN.
_LITE = (
    _lite("lite0", 0, _pretrained("tf_efficientdet_lite0-dfacfc78.pth", 26.4, **_LITE_INPUT),
          image_size=320, fpn_channels=64),
    _lite("lite1", 1, _pretrained("tf_efficientdet_lite1-6dc7ab30.pth", 31.5, **_LITE_INPUT),
          image_size=384, fpn_channels=88),
    _lite("lite2", 2, _pretrained("tf_efficientdet_lite2-86c5d55b.pth", 35.1, **_LITE_INPUT),
          image_size=448, fpn_channels=112),
    _lite("lite3", 3, _pretrained("tf_efficientdet_lite3-506852cb.pth", 38.8, **_LITE_INPUT),
          image_size=512, fpn_channels=160, anchor_scale=4.0),
    _lite("lite3x", 3, _pretrained("tf_efficientdet_lite3x-8404c57b.pth", 42.6, **_LITE_INPUT),
          image_size=640, fpn_channels=200),
    _lite("lite4", 4, _pretrained("tf_efficientdet_lite4-391ddabc.pth", 43.2, **_LITE_INPUT),
          image_size=640, fpn_channels=224, anchor_scale=4.0),
)
_ADVPROP = tuple(
    _advprop(d, _pretrained(file, ap, **_ADVPROP_INPUT))
    for d, (file, ap) in zip(_D, [
        ("tf_efficientdet_d0_ap-d0cdbd0a.pth", 35.2), ("tf_efficientdet_d1_ap-7721d075.pth", 40.9),
        ("tf_efficientdet_d2_ap-a2995c19.pth", 44.3), ("tf_efficientdet_d3_ap-e4a2feab.pth", 48.0),
        ("tf_efficientdet_d4_ap-f601a5fc.pth", 50.4), ("tf_efficientdet_d5_ap-3673ae5d.pth", 52.2),
    ])
)
DETECTORS: dict[str, DetectorSpec] = {s.name: s for s in (*_D, *_LITE, *_ADVPROP)}


def get_spec(name: str) -> DetectorSpec:
    """Resolve `d0`, `efficientdet-d0` or `tf_efficientdet_d0` (any case; `lite0`, `d0_ap` alike) to its spec."""
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
