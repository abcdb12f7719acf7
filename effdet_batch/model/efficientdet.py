"""The EfficientDet network: backbone -> BiFPN -> class and box heads (raw outputs only).

Anchors, decoding and NMS live in `postprocess.py`; weights are loaded by `factory.py`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .backbone import EfficientNetFeatures
from .bifpn import BiFpn
from .checkpoint import Weights
from .config import DetectorSpec
from .head import HeadNet
from .layers import activation

__all__ = ["EfficientDet", "init_weights"]

# Focal-loss prior: the class logits start at sigmoid^-1(0.01), so a new model predicts "nothing".
_CLASS_PRIOR = 0.01


class EfficientDet(nn.Module):
    """`forward(x)`: x float [B, 3, R, R], RGB normalised with the weights' mean/std ->
    (class_outputs, box_outputs), lists over levels P3..Pmax of [B, A*C, H, W] and [B, A*4, H, W].
    """

    weights: Weights | None = None  # set by `create_model`

    def __init__(self, spec: DetectorSpec, num_classes: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes or spec.pretrained.num_classes
        act = activation(spec.act)
        self.backbone = EfficientNetFeatures(spec.backbone_spec)
        self.fpn = BiFpn(
            self.backbone.feature_channels,
            spec.fpn_channels,
            spec.fpn_repeats,
            spec.fusion,
            act,
            min_level=spec.min_level,
            max_level=spec.max_level,
        )
        head = dict(channels=spec.fpn_channels, num_anchors=spec.num_anchors, repeats=spec.head_repeats,
                    num_levels=spec.num_levels, act=act)
        self.class_net = HeadNet(num_outputs=self.num_classes, **head)
        self.box_net = HeadNet(num_outputs=4, **head)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        features = self.fpn(self.backbone(x))
        return self.class_net(features), self.box_net(features)


@torch.no_grad()
def init_weights(model: EfficientDet, seed: int) -> None:
    """Seeded random weights for smoke runs and benchmarks (not a trained model).

    Convs draw from N(0, 2/fan_out) like the EfficientNet TF init; BNs get random but well-scaled
    statistics so that activations keep a sane range through ~100 layers.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_out))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=gen))
            module.bias.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_var.copy_(1.0 + 0.1 * torch.rand(n, generator=gen))
    model.class_net.predict.conv_pw.bias.fill_(-math.log((1 - _CLASS_PRIOR) / _CLASS_PRIOR))
