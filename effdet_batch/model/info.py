"""`model_info`: size and cost of a variant, computed from the architecture itself."""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from .config import get_spec
from .efficientdet import EfficientDet

__all__ = ["model_info", "param_count"]


def _meta_model(name: str, num_classes: int) -> EfficientDet:
    """The variant built on the meta device: shapes only, no memory, so D7x costs what D0 does."""
    with torch.device("meta"):
        return EfficientDet(get_spec(name), num_classes).eval()


@functools.lru_cache(maxsize=None)
def param_count(name: str, num_classes: int = 90) -> int:
    """Parameters of a variant with a `num_classes` head (built, not run: a tenth of `model_info`'s cost)."""
    return sum(p.numel() for p in _meta_model(name, num_classes).parameters())


@functools.lru_cache(maxsize=None)
def _macs(name: str, num_classes: int) -> int:
    """Multiply-accumulates of one forward pass at the native size, run on the meta device (no
    arithmetic). Counted per convolution from its declared kernel, output size and groups, the
    count torch's FlopCounterMode gives (/2), independent of how a layer implements its padding.
    """
    spec = get_spec(name)
    macs = 0

    def count(module: nn.Conv2d, _: object, output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    model = _meta_model(name, num_classes)
    x = torch.empty(1, 3, spec.image_size, spec.image_size, device="meta")
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(count)
    with torch.no_grad():
        model(x)
    return macs


def model_info(name: str, num_classes: int = 90) -> dict[str, Any]:
    """Architecture, size and cost of a variant with a `num_classes` head.

    Returns:
        `name`, `image_size`, `backbone`, `act`, `fpn_channels`, `fpn_repeats`, `head_repeats`,
        `fusion`, `levels` ([min, max]), `anchor_scale`, `num_classes`, `params`, `macs` (one
        image at `image_size`), `mean`/`std`/`fill` (input normalisation), and, of the published
        weights, `published_coco_ap` (None for another head, which they do not describe) and
        `checkpoint_url`.
    """
    spec = get_spec(name)
    params, macs = param_count(spec.name, num_classes), _macs(spec.name, num_classes)
    pretrained = spec.pretrained
    return {
        "name": spec.name,
        "image_size": spec.image_size,
        "backbone": spec.backbone_spec.name,
        "act": spec.act,
        "fpn_channels": spec.fpn_channels,
        "fpn_repeats": spec.fpn_repeats,
        "head_repeats": spec.head_repeats,
        "fusion": spec.fusion,
        "levels": [spec.min_level, spec.max_level],
        "anchor_scale": spec.anchor_scale,
        "num_classes": num_classes,
        "params": params,
        "macs": macs,
        "mean": list(pretrained.mean),
        "std": list(pretrained.std),
        "fill": list(pretrained.fill),
        "published_coco_ap": pretrained.coco_ap if num_classes == pretrained.num_classes else None,
        "checkpoint_url": pretrained.url,
    }
