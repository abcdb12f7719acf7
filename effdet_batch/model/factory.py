"""`create_model`: the one place where a variant is built and its weights are loaded."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

from ..errors import CheckpointError, ConfigError
from ..uri import redact
from .checkpoint import Weights, check_layout, fetch, head_classes, official_uri, read_state_dict
from .config import DetectorSpec, get_spec
from .efficientdet import EfficientDet, init_weights

__all__ = ["create_model", "checkpoint_head", "RANDOM_SEED", "state_dict_sha256"]

RANDOM_SEED = 0  # checkpoint="random" is always the same model, on every actor and every run


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes, in key order: identifies weights with no file."""
    digest = hashlib.sha256()
    for key, value in state.items():
        digest.update(f"{key}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checkpoint_head(spec: DetectorSpec, checkpoint: str | None) -> tuple[int, str]:
    """(classes of the head, state dict of a training file) that `create_model` would load for
    `checkpoint` (a path/URI, "random" or None), without building the model: the published weights
    and random ones have COCO's 90 classes."""
    if checkpoint in (None, "random"):
        return spec.pretrained.num_classes, ""
    path, _ = fetch(checkpoint, spec)
    state, entry = read_state_dict(path, checkpoint)
    found = head_classes(state, spec.num_anchors)
    if found is None:  # no class head at all: the layout check names what the file holds
        check_layout(state, EfficientDet(spec).state_dict(), spec, checkpoint)
    return found or spec.pretrained.num_classes, entry


def create_model(
    name: str, checkpoint: str | Mapping[str, torch.Tensor] | None = None, num_classes: int | None = None
) -> EfficientDet:
    """Build an EfficientDet variant in eval mode with its weights.

    Args:
        name: `d0`...`d7x`, `lite0`...`lite4`, `lite3x`, `d0_ap`...`d5_ap` (also `efficientdet-d0`,
            `tf_efficientdet_d0`).
        checkpoint: a path or fsspec URI of a `.pth`/`.safetensors` state dict in the public
            layout or of a training file of effdet's `train.py`, a state dict, `"random"` (seeded
            random weights, for smoke runs and benchmarks), or None for the official COCO weights
            (cache, else download).
        num_classes: the class head's size. None: the checkpoint's (90 for `"random"`); given with
            a checkpoint, it must agree with it.

    Returns:
        The model; `model.weights` says where its weights came from (source, sha256, and which
        state dict of a training file), `model.num_classes` the head's classes. Its
        `state_dict()` has the public checkpoint layout.

    Raises:
        ConfigError: unknown name, bad `num_classes`. CheckpointError: a checkpoint that is missing,
        unreachable, unreadable, unsafe to unpickle, fails its sha256, belongs to another variant
        or disagrees with `num_classes` (one-line message).

    Example:
        >>> model = create_model("d0", checkpoint="random")
        >>> class_out, box_out = model(torch.zeros(1, 3, 512, 512))
    """
    spec = get_spec(name)
    if num_classes is not None and not (isinstance(num_classes, int) and num_classes >= 1):
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    if isinstance(checkpoint, str) and checkpoint == "random":
        model = EfficientDet(spec, num_classes)
        init_weights(model, RANDOM_SEED)
        model.weights = Weights(f"random(seed={RANDOM_SEED})", state_dict_sha256(model.state_dict()))
        return model.eval()
    entry = ""
    if isinstance(checkpoint, Mapping):
        state, source, sha = dict(checkpoint), "<state dict>", None
    elif checkpoint is None or isinstance(checkpoint, str):
        source = official_uri(spec) if checkpoint is None else checkpoint
        path, sha = fetch(source, spec)
        state, entry = read_state_dict(path, source)
    else:
        raise CheckpointError(
            f"checkpoint must be a path, a URI, a state dict, 'random' or None, not {type(checkpoint).__name__}"
        )
    found = head_classes(state, spec.num_anchors)
    if num_classes is not None and found is not None and found != num_classes:
        raise CheckpointError(f"checkpoint {redact(source)} has a {found}-class head, "
                              f"num_classes={num_classes} was asked: drop it or give the checkpoint's")
    model = EfficientDet(spec, found or num_classes)
    state = check_layout(state, model.state_dict(), spec, source)
    model.load_state_dict(state, strict=True)
    model.weights = Weights(source, sha or state_dict_sha256(model.state_dict()), entry)
    return model.eval()
