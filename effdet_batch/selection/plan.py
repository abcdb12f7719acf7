"""The candidates of a model selection: published variants by name (`--models d0,d1,lite0`), and
the user's own models from a YAML or JSON list (`--candidates FILE`: name, model, weights, labels).

A published variant's checkpoint is its official file (`tf_efficientdet_d0_34-f153e0cf.pth`, the
basename of its `Pretrained` URL) in `--weights-dir` when it is there, else the official download
(cache, mirror, release), which checks it; `--weights random` replaces them all (smoke runs)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, InputError, first_line
from ..model import get_spec
from ..uri import check_scheme, join, redact

__all__ = ["PlannedModel", "published_models", "own_models", "plan_models"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a folder name under runs/, metrics/ and bench/
_KEYS = ("name", "model", "weights", "labels")


@dataclass(frozen=True)
class PlannedModel:
    """One candidate: `name` (its folder under the output), the variant, its weights (None: the
    official ones; "random"; or a checkpoint path/URI) and its label file (None: the checkpoint's
    classes, COCO's for 90)."""

    name: str
    model: str
    weights: str | None = None
    labels: str | None = None


def _exists(uri: str) -> bool:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(uri)
        return fs.isfile(path)
    except Exception as exc:  # an unreachable folder is one the user must hear about
        raise InputError(f"cannot look in --weights-dir for {redact(uri)}: {first_line(exc)}") from None


def published_models(names: str, weights_dir: str | None = None, random: bool = False) -> list[PlannedModel]:
    """The variants of a comma-separated list, with their official checkpoint from `weights_dir`
    where it holds it (else None: the official download), or random weights."""
    if weights_dir is not None:
        check_scheme(weights_dir, "--weights-dir")
    planned = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        spec = get_spec(name)
        weights = None
        if random:
            weights = "random"
        elif weights_dir is not None and _exists(local := join(weights_dir, spec.checkpoint_name)):
            weights = local
        planned.append(PlannedModel(spec.name, spec.name, weights))
    return planned


def _entry(item: Any, where: str) -> PlannedModel:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(_KEYS)}, got {type(item).__name__}")
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; expected {', '.join(_KEYS)}")
    missing = [k for k in ("name", "model", "weights") if not item.get(k)]
    if missing:
        raise ConfigError(f"{where}: no {', '.join(missing)} (each candidate needs name, model and weights)")
    name, weights, labels = str(item["name"]), str(item["weights"]), item.get("labels")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (it names folders)")
    if weights != "random":
        check_scheme(weights, f"{where}: weights")
    if labels is not None:
        check_scheme(str(labels), f"{where}: labels")
    return PlannedModel(name, get_spec(str(item["model"])).name, weights, None if labels is None else str(labels))


def own_models(uri: str) -> list[PlannedModel]:
    """The candidates listed in a YAML or JSON file (JSON is YAML): a list of mappings with
    `name`, `model`, `weights` and optionally `labels`."""
    import fsspec
    import yaml

    check_scheme(uri, "--candidates")
    try:
        with fsspec.open(uri, "r") as f:
            items = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"candidates file {redact(uri)} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read candidates file {redact(uri)}: {first_line(exc)}") from None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"candidates file {redact(uri)}: expected a non-empty list of candidates")
    return [_entry(item, f"candidates file {redact(uri)} entry {i}") for i, item in enumerate(items, 1)]


def plan_models(models: str | None, candidates: str | None, weights_dir: str | None = None,
                random: bool = False) -> list[PlannedModel]:
    """Every candidate, published ones first; their names must differ."""
    planned = published_models(models or "", weights_dir, random) + (own_models(candidates) if candidates else [])
    if not planned:
        raise ConfigError("nothing to choose from: give --models and/or --candidates")
    seen: set[str] = set()
    for model in planned:
        if model.name in seen:
            raise ConfigError(f"two candidates are named {model.name!r}: names must differ (they name folders)")
        seen.add(model.name)
    return planned
