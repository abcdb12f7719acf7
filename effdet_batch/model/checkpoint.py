"""Finding, downloading, verifying and reading EfficientDet checkpoints.

Sources: a local path, any fsspec URI (s3://, gs://, https://...), or the official release file of
the variant (`None`). Remote files are downloaded once into the cache directory
(`$EFFDET_BATCH_CACHE`, else `$XDG_CACHE_HOME/effdet_batch`, else `~/.cache/effdet_batch`).
Clusters without GitHub access can set `EFFDET_BATCH_WEIGHTS_MIRROR` to a folder or bucket holding
the release files under their published names.

Files are read without executing code: `.pth` through `torch.load(weights_only=True)` and
`.safetensors` through safetensors. A published file name carries the first 8 hex digits of its
sha256 (`tf_efficientdet_d0_34-f153e0cf.pth`); such files are verified before use.

Besides plain state dicts, the files effdet's `train.py` writes are read: a dict holding
`state_dict` and, when trained with EMA, `state_dict_ema` (preferred: the EMA weights are the ones
effdet evaluates and publishes), beside `args` (an `argparse.Namespace`, the one Python object such
a file pickles), `optimizer`, `epoch` and `metric`. DDP's `module.` key prefix is removed.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, first_line
from ..uri import basename, is_remote, join, redact
from .config import DETECTORS, DetectorSpec

__all__ = ["Weights", "cache_dir", "official_uri", "fetch", "read_state_dict", "file_sha256", "check_layout",
           "head_classes"]

_logger = logging.getLogger(__name__)

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|pt|safetensors)$")
_CHUNK = 1 << 20
# The state dicts of a training file, in order of preference.
TRAINING_STATES = ("state_dict_ema", "state_dict")
_CLASS_BIAS = "class_net.predict.conv_pw.bias"


@dataclass(frozen=True)
class Weights:
    """Where a model's weights came from: printable source and sha256 (of the file, or of the
    tensors for random weights and in-memory state dicts), and which state dict of a training
    file was loaded (`state_dict_ema` or `state_dict`; empty for a plain state dict)."""

    source: str
    sha256: str
    state: str = ""


def cache_dir() -> Path:
    if os.environ.get("EFFDET_BATCH_CACHE"):
        return Path(os.environ["EFFDET_BATCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "effdet_batch"


def official_uri(spec: DetectorSpec) -> str:
    """The release URL of `spec`'s checkpoint, or its copy under `EFFDET_BATCH_WEIGHTS_MIRROR`."""
    mirror = os.environ.get("EFFDET_BATCH_WEIGHTS_MIRROR")
    return join(mirror, spec.checkpoint_name) if mirror else spec.checkpoint_url


def _expected_prefix(uri: str) -> str | None:
    match = _HASH_IN_NAME.search(basename(uri))
    return match.group(1) if match else None


def _cache_path(uri: str) -> Path:
    name = basename(uri)
    if _expected_prefix(uri):  # content-addressed name: one cache entry whatever the URL
        return cache_dir() / name
    return cache_dir() / hashlib.sha256(uri.encode()).hexdigest()[:16] / name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, source: str) -> str:
    """sha256 of the file; refuses it when its name promises another hash."""
    sha = file_sha256(path)
    expected = _expected_prefix(source)
    if expected and not sha.startswith(expected):
        raise CheckpointError(
            f"checkpoint {redact(source)} failed verification: its sha256 starts with {sha[:len(expected)]}, "
            f"its name says {expected}; the file is corrupt or not the published one "
            f"(delete {path} if it is a cached copy, and fetch it again)"
        )
    return sha


def fetch(uri: str, spec: DetectorSpec) -> tuple[Path, str]:
    """A local, verified copy of the checkpoint at `uri`, and its sha256."""
    if not is_remote(uri):
        path = Path(uri.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint file not found: {path} (expected the tf_efficientdet_{spec.name} "
                f".pth or .safetensors file, or --weights random for a smoke run)"
            )
        return path, _verify(path, uri)
    target = _cache_path(uri)
    if target.is_file():
        return target, _verify(target, uri)
    _download(uri, target, spec)
    return target, _verify(target, uri)


def _download(uri: str, target: Path, spec: DetectorSpec) -> None:
    import fsspec  # deferred: only needed when something is downloaded

    target.parent.mkdir(parents=True, exist_ok=True)
    _logger.info("downloading %s to %s", redact(uri), target)
    # A unique temporary name, renamed at the end, so that concurrent actors never read a half file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.close(fd)
        fs, path = fsspec.core.url_to_fs(uri)
        fs.get_file(path, tmp)
        os.replace(tmp, target)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = first_line(exc)
        raise CheckpointError(
            f"cannot download the tf_efficientdet_{spec.name} checkpoint from {redact(uri)} ({reason}); "
            f"offline, fetch {basename(uri)} elsewhere and pass its path with --weights "
            f"(checkpoint= in Python), copy it to {target}, or set EFFDET_BATCH_WEIGHTS_MIRROR "
            f"to a folder or bucket holding it; --weights random runs a smoke test"
        ) from None


def _is_state_dict(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _load_pth(path: Path, source: str) -> object:
    """`torch.load` that runs no code: tensors, containers and, for training files, `argparse.Namespace`."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        try:
            needs = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # not a zip checkpoint: corrupt rather than unsafe
            needs = []
        if not needs:
            raise
        raise CheckpointError(
            f"checkpoint {redact(source)} refused: it holds pickled Python objects ({', '.join(needs[:3])}) "
            "whose code a safe load does not run; save its state_dict() (or as .safetensors) and pass that file"
        ) from None


def read_state_dict(path: Path, source: str) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of a `.safetensors` or `.pth` file (a state dict or a training file), read without
    executing code, and which state dict of a training file they are ("" for a plain one)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            content: object = load_file(str(path), device="cpu")
        else:
            content = _load_pth(path, source)
    except CheckpointError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        raise CheckpointError(
            f"checkpoint {redact(source)} is not a readable .pth/.safetensors state dict ({reason[:200]})"
        ) from None
    if _is_state_dict(content):
        return _strip_ddp(dict(content)), ""  # type: ignore[arg-type]
    if isinstance(content, Mapping):
        for key in TRAINING_STATES:
            if _is_state_dict(content.get(key)):
                return _strip_ddp(dict(content[key])), key
        keys = ", ".join(sorted(map(str, content))[:8])
        raise CheckpointError(
            f"checkpoint {redact(source)} holds a dict with no state dict of tensors in it (keys: {keys}); "
            f"expected a state dict, or a training file with {' or '.join(TRAINING_STATES)}"
        )
    raise CheckpointError(
        f"checkpoint {redact(source)} holds a {type(content).__name__}, not a state dict of tensors"
    )


def _strip_ddp(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the `module.` prefix that DistributedDataParallel adds to every key."""
    if all(k.startswith("module.") for k in state):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return state


def head_classes(state: Mapping[str, torch.Tensor], num_anchors: int) -> int | None:
    """Classes of the checkpoint's class head (its predictor's outputs / anchors), None if absent."""
    bias = state.get(_CLASS_BIAS)
    if bias is None or bias.ndim != 1 or bias.shape[0] % num_anchors:
        return None
    return bias.shape[0] // num_anchors


def _signature(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    """(stem width, BiFPN width, BiFPN cells, head repeats, levels, has SE, has fusion weights) read
    off checkpoint keys: enough to tell every variant from the others but AdvProp from its D twin."""
    try:
        return (
            shapes["backbone.conv_stem.weight"][0],
            shapes["class_net.conv_rep.0.conv_pw.weight"][0],
            len({k.split(".")[2] for k in shapes if k.startswith("fpn.cell.")}),
            len({k.split(".")[2] for k in shapes if k.startswith("class_net.conv_rep.")}),
            len({k.split(".")[3] for k in shapes if k.startswith("class_net.bn_rep.0.")}),
            int(any(".se." in k for k in shapes)),
            int(any(k.endswith("edge_weights") for k in shapes)),
        )
    except (KeyError, IndexError):
        return None


def _spec_signature(spec: DetectorSpec) -> tuple[int, ...]:
    return (spec.backbone_spec.stem_channels, spec.fpn_channels, spec.fpn_repeats, spec.head_repeats,
            spec.num_levels, int(not spec.backbone_spec.lite), int(spec.fusion == "fast_normalized"))


def _holds(state: Mapping[str, torch.Tensor]) -> str:
    """What a checkpoint that fits no named variant looks like, for its error message."""
    found = _signature({k: tuple(v.shape) for k, v in state.items()})
    alike = [name for name, s in DETECTORS.items() if _spec_signature(s) == found]
    if not alike:
        return "it matches no EfficientDet variant"
    classes = head_classes(state, DETECTORS[alike[0]].num_anchors)
    return (f"it looks like a tf_efficientdet_{' or '.join(alike)} checkpoint"
            + (f" with {classes} classes" if classes else ""))


def check_layout(
    state: dict[str, torch.Tensor], expected: Mapping[str, torch.Tensor], spec: DetectorSpec, source: str
) -> dict[str, torch.Tensor]:
    """`state` completed with absent `num_batches_tracked` counters, or an error naming the mismatch."""
    state = dict(state)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if not (missing or unexpected or wrong):
        return state
    if wrong:
        k = wrong[0]
        example = f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
    else:
        example = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
    raise CheckpointError(
        f"checkpoint {redact(source)} does not fit tf_efficientdet_{spec.name}: {len(missing)} missing, "
        f"{len(unexpected)} unexpected and {len(wrong)} mis-shaped tensors (e.g. {example}); {_holds(state)}"
    )
