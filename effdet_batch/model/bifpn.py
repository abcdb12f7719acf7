"""BiFPN: repeated top-down + bottom-up feature fusion over P3-P7 (P3-P8 for D7x).

EfficientDet paper, Sec. 3 (https://arxiv.org/abs/1911.09070). Attribute names follow the `fpn.*`
keys of the public checkpoints: `fpn.resample.<level index>` makes the extra levels from C5 and
`fpn.cell.<i>.fnode.<j>` are the fusion nodes, whose `combine.resample.<input offset>` 1x1 convs
adapt backbone features of another width.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import Fusion
from .layers import Activation, ConvBn, SeparableConv2d, max_pool_same

__all__ = ["FpnNode", "bifpn_nodes", "BiFpn"]

FUSION_EPS = 1e-4  # keeps fast normalized fusion finite when every weight is zero


@dataclass(frozen=True)
class FpnNode:
    """A fusion node: its pyramid level and the offsets of its inputs in the cell's node list.

    Offsets 0..num_levels-1 are the cell's inputs (P3..Pmax); each node appends one entry.
    """

    level: int
    inputs: tuple[int, ...]


def bifpn_nodes(min_level: int, max_level: int) -> tuple[FpnNode, ...]:
    """The BiFPN topology: a top-down pass, then a bottom-up pass with same-level skip inputs."""
    ids = {level: [i] for i, level in enumerate(range(min_level, max_level + 1))}
    next_id = len(ids)
    nodes = []
    for level in range(max_level - 1, min_level - 1, -1):  # top-down
        nodes.append(FpnNode(level, (ids[level][-1], ids[level + 1][-1])))
        ids[level].append(next_id)
        next_id += 1
    for level in range(min_level + 1, max_level + 1):  # bottom-up
        nodes.append(FpnNode(level, (*ids[level], ids[level - 1][-1])))
        ids[level].append(next_id)
        next_id += 1
    return tuple(nodes)


class Resample(nn.Module):
    """Bring a feature map to another level and width.

    1x1 conv+BN where the widths differ, then a 3x3/2 max-pool ("down") or a nearest upsample to the
    target size ("up").
    """

    def __init__(self, in_channels: int, out_channels: int, direction: Literal["down", "up", "same"]) -> None:
        super().__init__()
        self.conv: nn.Module = (
            ConvBn(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        )
        self.direction = direction

    def forward(self, x: torch.Tensor, size: torch.Size | None = None) -> torch.Tensor:
        x = self.conv(x)
        if self.direction == "down":
            return max_pool_same(x)
        if self.direction == "up":
            return F.interpolate(x, size=size, mode="nearest")
        return x


def _direction(from_level: int, to_level: int) -> Literal["down", "up", "same"]:
    return "down" if from_level < to_level else "up" if from_level > to_level else "same"


class FpnCombine(nn.Module):
    """Resample a node's inputs to its level and width, then fuse them."""

    def __init__(
        self,
        node: FpnNode,
        levels: list[int],
        channels: list[int],
        fpn_channels: int,
        fusion: Fusion,
    ) -> None:
        super().__init__()
        if fusion not in ("fast_normalized", "sum"):
            raise ValueError(f"fusion must be 'fast_normalized' or 'sum', got {fusion!r}")
        self.inputs = node.inputs
        self.resample = nn.ModuleDict(
            {str(i): Resample(channels[i], fpn_channels, _direction(levels[i], node.level)) for i in node.inputs}
        )
        self.fusion = fusion
        if fusion == "fast_normalized":
            self.edge_weights = nn.Parameter(torch.ones(len(node.inputs)))

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        size = nodes[self.inputs[0]].shape[-2:]  # the first input is always at the node's level
        out = [resample(nodes[i], size) for i, resample in zip(self.inputs, self.resample.values())]
        if self.fusion == "sum":
            return torch.stack(out).sum(0)
        weights = F.relu(self.edge_weights.to(out[0].dtype))
        weights = weights / (weights.sum() + FUSION_EPS)
        fused = out[0] * weights[0]
        for w, x in zip(weights[1:], out[1:]):
            fused = fused + x * w
        return fused


class AfterCombine(nn.Module):
    """activation -> depthwise-separable conv -> BN, applied to each fused node."""

    def __init__(self, channels: int, act: Activation) -> None:
        super().__init__()
        self.conv = SeparableConv2d(channels, channels)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x))


class Fnode(nn.Module):
    def __init__(self, combine: FpnCombine, channels: int, act: Activation) -> None:
        super().__init__()
        self.combine = combine
        self.after_combine = AfterCombine(channels, act)

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        return self.after_combine(self.combine(nodes))


class BiFpnCell(nn.Module):
    def __init__(
        self,
        nodes: tuple[FpnNode, ...],
        levels: list[int],
        channels: list[int],
        fpn_channels: int,
        fusion: Fusion,
        act: Activation,
    ) -> None:
        super().__init__()
        levels, channels = list(levels), list(channels)
        self.fnode = nn.ModuleList()
        for node in nodes:
            combine = FpnCombine(node, levels, channels, fpn_channels, fusion)
            self.fnode.append(Fnode(combine, fpn_channels, act))
            levels.append(node.level)
            channels.append(fpn_channels)
        self.num_levels = len(set(levels))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        nodes = list(features)
        for fnode in self.fnode:
            nodes.append(fnode(nodes))
        # The bottom-up pass leaves the last node of every level in level order.
        return nodes[-self.num_levels:]


class BiFpn(nn.Module):
    """[C3, C4, C5] -> [P3, ..., Pmax], each `fpn_channels` wide."""

    def __init__(
        self,
        feature_channels: tuple[int, ...],
        fpn_channels: int,
        repeats: int,
        fusion: Fusion,
        act: Activation,
        min_level: int = 3,
        max_level: int = 7,
    ) -> None:
        super().__init__()
        num_backbone = len(feature_channels)
        # Levels beyond C5 (P6, P7, and P8 for D7x) are made from it.
        self.resample = nn.ModuleDict()
        in_ch = feature_channels[-1]
        for index in range(num_backbone, max_level - min_level + 1):
            self.resample[str(index)] = Resample(in_ch, fpn_channels, "down")
            in_ch = fpn_channels
        levels = list(range(min_level, max_level + 1))
        channels = [*feature_channels, *[fpn_channels] * (len(levels) - num_backbone)]
        nodes = bifpn_nodes(min_level, max_level)
        self.cell = nn.Sequential()
        for i in range(repeats):
            self.cell.add_module(str(i), BiFpnCell(nodes, levels, channels, fpn_channels, fusion, act))
            channels = [fpn_channels] * len(levels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        features = list(features)
        for resample in self.resample.values():
            features.append(resample(features[-1]))
        return self.cell(features)
