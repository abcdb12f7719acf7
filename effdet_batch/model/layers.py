"""Building blocks shared by the backbone, BiFPN and heads.

The TensorFlow checkpoints were trained with TF "SAME" padding, which pads asymmetrically
(more at the bottom/right) for strided layers; matching it exactly is what makes the ported
weights give the published accuracy. Module attribute names follow the public checkpoint layout.

Inference: `fuse_batchnorm` folds every BatchNorm into the convolution before it (modules that own
a conv/BN pair implement `fuse_bn_`), which removes one memory pass per layer.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = [
    "BN_EPS",
    "Activation",
    "activation",
    "Conv2dSame",
    "max_pool_same",
    "ConvBnPairs",
    "SeparableConv2d",
    "ConvBn",
    "fuse_batchnorm",
    "fold_bn",
]

BN_EPS = 1e-3  # TensorFlow's default epsilon, which the checkpoints were trained with

Activation = Callable[[torch.Tensor], torch.Tensor]
_ACTIVATIONS: dict[str, Activation] = {"swish": F.silu, "relu6": F.relu6}


def activation(name: str) -> Activation:
    """The function of a spec's `act`: swish (SiLU) for EfficientNet/D, ReLU6 for the Lite models."""
    return _ACTIVATIONS[name]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one spatial dimension."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = same_padding(x.shape[-2], kernel, stride)
    left, right = same_padding(x.shape[-1], kernel, stride)
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


class Conv2dSame(nn.Conv2d):
    """`nn.Conv2d` with TF "SAME" padding.

    At stride 1 with an odd kernel SAME is symmetric, so it is static padding. Strided convolutions
    work out SAME from the input size at run time.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        static = stride == 1 and kernel_size % 2 == 1
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2 if static else 0,
            groups=groups,
            bias=bias,
        )
        self.dynamic_pad = not static

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.dynamic_pad:
            return super().forward(x)
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if (bottom - top, right - left) == (1, 1):
            # SAME pads one more row/column after than before (even input sizes). A kernel with a
            # leading zero row and column, padded symmetrically, computes exactly the same sums
            # without copying x into a padded tensor (3x faster for the large early layers on CPU).
            weight = F.pad(self.weight, (1, 0, 1, 0))
            return F.conv2d(x, weight, self.bias, self.stride, (top + 1, left + 1), 1, self.groups)
        if (bottom, right) == (top, left):
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-2 max pooling with TF "SAME" padding (padded cells never win the max)."""
    return F.max_pool2d(_pad_same(x, 3, 2, value=float("-inf")), 3, 2)


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of `conv` whose weights and bias include the eval-mode affine map of `bn`."""
    fused = fuse_conv_bn_eval(conv.eval(), bn.eval())
    fused.weight.requires_grad_(False)
    fused.bias.requires_grad_(False)
    return fused


class ConvBnPairs(nn.Module):
    """A module whose `(conv, bn)` attribute pairs fold together for inference (`fuse_bn_`)."""

    bn_pairs: tuple[tuple[str, str], ...] = ()

    def fuse_bn_(self) -> None:
        for conv_name, bn_name in self.bn_pairs:
            bn = getattr(self, bn_name)
            if isinstance(bn, nn.BatchNorm2d):
                setattr(self, conv_name, fold_bn(getattr(self, conv_name), bn))
                setattr(self, bn_name, nn.Identity())


class SeparableConv2d(ConvBnPairs):
    """Depthwise KxK conv, pointwise 1x1 conv with bias, then an optional BatchNorm.

    The heads share these convs across levels and keep their BNs outside (one per level), so they
    build them with `norm=False`.
    """

    bn_pairs = (("conv_pw", "bn"),)

    def __init__(self, in_channels: int, out_channels: int, norm: bool = True) -> None:
        super().__init__()
        self.conv_dw = Conv2dSame(in_channels, in_channels, 3, groups=in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=BN_EPS) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv_pw(self.conv_dw(x)))


class ConvBn(ConvBnPairs):
    """1x1 conv (with the bias the TF models carry) followed by BatchNorm, no activation."""

    bn_pairs = (("conv", "bn"),)

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm of `model` (in eval mode) into its convolution, in place.

    Each module that owns conv/BN pairs implements `fuse_bn_`; parents run before their children
    (`modules()` is pre-order), so a head can fold its per-level BNs before its shared convs are seen.
    """
    model.eval()
    for module in list(model.modules()):
        fuse = getattr(module, "fuse_bn_", None)
        if fuse is not None:
            fuse()
    return model
