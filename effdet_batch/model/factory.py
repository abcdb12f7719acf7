"""`create_model`: the one place where a variant is built and its weights are loaded."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

from ..errors import CheckpointError
from .checkpoint import Weights, check_layout, fetch, official_uri, read_state_dict
from .config import get_spec
from .efficientdet import EfficientDet, init_weights

__all__ = ["create_model", "RANDOM_SEED", "state_dict_sha256"]

RANDOM_SEED = 0  # checkpoint="random" is always the same model, on every actor and every run


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes, in key order: identifies weights with no file."""
    digest = hashlib.sha256()
    for key, value in state.items():
        digest.update(f"{key}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def create_model(
    name: str, checkpoint: str | Mapping[str, torch.Tensor] | None = None
) -> EfficientDet:
    """Build an EfficientDet variant in eval mode with its weights.

    Args:
        name: `d0`...`d7`, `d7x` (also `efficientdet-d0`, `tf_efficientdet_d0`).
        checkpoint: a path or fsspec URI of a `.pth`/`.safetensors` state dict in the public
            layout, a state dict, `"random"` (seeded random weights, for smoke runs and
            benchmarks), or None for the official COCO weights (cache, else download).

    Returns:
        The model; `model.weights` says where its weights came from (source and sha256). Its
        `state_dict()` has the public checkpoint layout.

    Raises:
        ConfigError: unknown name. CheckpointError: a checkpoint that is missing, unreachable,
        unreadable, fails its sha256 or belongs to another variant (one-line message).

    Example:
        >>> model = create_model("d0", checkpoint="random")
        >>> class_out, box_out = model(torch.zeros(1, 3, 512, 512))
    """
    spec = get_spec(name)
    model = EfficientDet(spec)
    if isinstance(checkpoint, str) and checkpoint == "random":
        init_weights(model, RANDOM_SEED)
        model.weights = Weights(f"random(seed={RANDOM_SEED})", state_dict_sha256(model.state_dict()))
        return model.eval()
    if isinstance(checkpoint, Mapping):
        state, source, sha = dict(checkpoint), "<state dict>", None
    elif checkpoint is None or isinstance(checkpoint, str):
        source = official_uri(spec) if checkpoint is None else checkpoint
        path, sha = fetch(source, spec)
        state = read_state_dict(path, source)
    else:
        raise CheckpointError(
            f"checkpoint must be a path, a URI, a state dict, 'random' or None, not {type(checkpoint).__name__}"
        )
    state = check_layout(state, model.state_dict(), spec, source)
    model.load_state_dict(state, strict=True)
    model.weights = Weights(source, sha or state_dict_sha256(model.state_dict()))
    return model.eval()
