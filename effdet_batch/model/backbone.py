"""EfficientNet feature extractor (C3, C4, C5) built from the B0 stage table and compound scaling.

Tan & Le, "EfficientNet", https://arxiv.org/abs/1905.11946. Attribute names follow the
`backbone.*` keys of the public EfficientDet checkpoints (timm's `tf_efficientnet_b*`).
"""
from __future__ import annotations

import torch
from torch import nn

from .config import FEATURE_STAGES, BackboneSpec, StageSpec
from .layers import BN_EPS, Activation, Conv2dSame, ConvBnPairs, activation

__all__ = ["EfficientNetFeatures"]


class SqueezeExcite(nn.Module):
    """Channel gating; the reduced width is a fraction of the block's *input* channels."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.conv_expand(nn.functional.silu(self.conv_reduce(s)))
        return x * s.sigmoid()


def _squeeze_excite(channels: int, in_ch: int, stage: StageSpec) -> nn.Module:
    """SE over `channels`, reduced to a fraction of the block's input width; none for Lite."""
    if not stage.se_ratio:
        return nn.Identity()
    return SqueezeExcite(channels, max(1, int(in_ch * stage.se_ratio)))


class DepthwiseSeparable(ConvBnPairs):
    """MBConv1: depthwise conv, SE, pointwise projection."""

    bn_pairs = (("conv_dw", "bn1"), ("conv_pw", "bn2"))

    def __init__(self, in_ch: int, out_ch: int, stage: StageSpec, stride: int, act: Activation) -> None:
        super().__init__()
        self.conv_dw = Conv2dSame(in_ch, in_ch, stage.kernel, stride=stride, groups=in_ch)
        self.bn1 = nn.BatchNorm2d(in_ch, eps=BN_EPS)
        self.se = _squeeze_excite(in_ch, in_ch, stage)
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.has_skip = stride == 1 and in_ch == out_ch
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv_dw(x)))
        y = self.bn2(self.conv_pw(self.se(y)))
        return x + y if self.has_skip else y


class InvertedResidual(ConvBnPairs):
    """MBConvN: pointwise expansion, depthwise conv, SE, linear pointwise projection."""

    bn_pairs = (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3"))

    def __init__(self, in_ch: int, out_ch: int, stage: StageSpec, stride: int, act: Activation) -> None:
        super().__init__()
        mid = in_ch * stage.expand
        self.conv_pw = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv_dw = Conv2dSame(mid, mid, stage.kernel, stride=stride, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.se = _squeeze_excite(mid, in_ch, stage)
        self.conv_pwl = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.has_skip = stride == 1 and in_ch == out_ch
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv_pw(x)))
        y = self.act(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(self.se(y)))
        return x + y if self.has_skip else y


_BLOCKS = {"ds": DepthwiseSeparable, "ir": InvertedResidual}


class EfficientNetFeatures(ConvBnPairs):
    """EfficientNet without its classifier; returns [C3, C4, C5] (strides 8, 16, 32)."""

    bn_pairs = (("conv_stem", "bn1"),)

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.conv_stem = Conv2dSame(3, spec.stem_channels, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(spec.stem_channels, eps=BN_EPS)
        self.act = activation(spec.act)
        in_ch = spec.stem_channels
        stages = []
        for stage in spec.stages:
            blocks = []
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                blocks.append(_BLOCKS[stage.block](in_ch, stage.out_channels, stage, stride, self.act))
                in_ch = stage.out_channels
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.feature_channels = spec.feature_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self.bn1(self.conv_stem(x)))
        features = []
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i in FEATURE_STAGES:
                features.append(x)
        return features
