"""Class and box prediction heads, shared across pyramid levels.

The convolutions are shared by every level but each level keeps its own BatchNorm: `bn_rep[r][l]`
is the BN of repeat r at level l (repeats first, the order of the public checkpoints).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import BN_EPS, Activation, SeparableConv2d, fold_bn

__all__ = ["HeadNet"]


class _LevelBn(nn.Module):
    """Holds one level's BN under the name `bn`, as in the checkpoints."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn: nn.Module = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x)


class HeadNet(nn.Module):
    """Per level: `repeats` x (separable conv -> level BN -> activation), then a separable predictor.

    Returns, per level, [B, num_anchors * num_outputs, H, W] with channel = anchor * num_outputs + k.
    """

    def __init__(
        self, channels: int, num_outputs: int, num_anchors: int, repeats: int, num_levels: int, act: Activation
    ) -> None:
        super().__init__()
        self.act = act
        self.conv_rep = nn.ModuleList(SeparableConv2d(channels, channels, norm=False) for _ in range(repeats))
        self.bn_rep = nn.ModuleList(
            nn.ModuleList(_LevelBn(channels) for _ in range(num_levels)) for _ in range(repeats)
        )
        self.predict = SeparableConv2d(channels, num_outputs * num_anchors, norm=False)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        for level, x in enumerate(features):
            for conv, bns in zip(self.conv_rep, self.bn_rep):
                x = self.act(bns[level](conv(x)))
            outputs.append(self.predict(x))
        return outputs

    def fuse_bn_(self) -> None:
        """Fold each level's BN into its own copy of the shared pointwise conv.

        The depthwise conv stays shared; `bn_rep[r][l]` becomes level l's pointwise conv, so
        `forward` is unchanged.
        """
        for conv, bns in zip(self.conv_rep, self.bn_rep):
            if isinstance(conv.conv_pw, nn.Identity):
                continue
            for level_bn in bns:
                level_bn.bn = fold_bn(conv.conv_pw, level_bn.bn)
            conv.conv_pw = nn.Identity()
