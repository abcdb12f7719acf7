"""The fixed sample of a model selection: N of the input's images that have ground truth, drawn
once (seeded) and written under `OUTPUT/sample/` as a manifest the job reads (`images.txt`), the
ground truth of exactly those images (`instances.json`) and how they were drawn (`sample.json`,
written last: its presence means the sample is complete). Every candidate runs over that manifest
and is evaluated against that ground truth, so their AP is comparable; a rerun reuses the sample."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..evaluation.predictions import match_rows
from ..pipeline.readers import ReadOptions, read_shards
from ..pipeline.sources import resolve_inputs
from ..uri import join, redact

__all__ = ["Sample", "SAMPLE_DIR", "draw_sample", "fix_sample"]

SAMPLE_DIR = "sample"
_MANIFEST, _GROUND_TRUTH, _RECORD = "images.txt", "instances.json", "sample.json"
# Inputs whose images have URIs of their own: tar members and Parquet rows cannot be listed in a manifest.
_LISTABLE = ("files", "manifest")


@dataclass(frozen=True)
class Sample:
    """How a sample was drawn (`inputs`, `annotations`, `requested`, `seed`, `match`), what it holds
    (`images`: URIs, sorted) out of `matched` input images with ground truth, and where it is."""

    inputs: tuple[str, ...]
    annotations: str
    requested: int
    seed: int
    match: str
    matched: int
    images: tuple[str, ...]
    manifest: str
    ground_truth: str

    def drawn_as(self, other: Sample) -> bool:
        """True when `other` was asked for with the same inputs, ground truth, size, seed and match."""
        keys = ("inputs", "annotations", "requested", "seed", "match")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def _input_images(inputs: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    """The URIs of the input's images (files, and the entries of manifests), sorted."""
    shards = resolve_inputs(inputs, "auto", exclude=exclude)
    other = sorted({s.kind for s in shards} - set(_LISTABLE))
    if other:
        raise ConfigError(f"the sample is a manifest of image URIs, and {' and '.join(other)} shards have none: "
                          "give image files or manifests as --input")
    uris = set()
    for table in read_shards(shards, ReadOptions()):
        for uri, error in zip(table["image_id"].to_pylist(), table["error"].to_pylist()):
            if error:  # only a manifest that cannot be read gives an error here
                raise InputError(f"{redact(uri)}: {error}")
            uris.add(uri)
    return sorted(uris)


def draw_sample(images: list[str], gt: dict[str, Any], count: int, seed: int,
                match: str = "basename") -> tuple[list[str], dict[str, Any], int]:
    """`count` of `images` (URIs) that match a ground-truth image (as jobs/evaluate.py matches),
    chosen with `seed`, or all of them when fewer match; returns their URIs (sorted), the ground
    truth of exactly those images, and how many matched."""
    gt_ids = match_rows(pd.DataFrame({"image_id": images}), gt["images"], match)
    matched = gt_ids.notna()
    duplicated = gt_ids[matched].duplicated(keep=False)
    if duplicated.any():
        both = [images[i] for i in duplicated[duplicated].index[:2]]
        raise ConfigError(f"input images {redact(both[0])} and {redact(both[1])} match the same ground-truth image "
                          f"by {match}: use --match path, or give one of them")
    candidates = [(images[i], int(gt_ids[i])) for i in np.flatnonzero(matched.to_numpy())]
    if not candidates:
        raise ConfigError(f"none of the input's {len(images)} images is in the ground truth (matched by {match}): "
                          "check --annotations, or --match")
    picked = np.random.default_rng(seed).choice(len(candidates), size=min(count, len(candidates)), replace=False)
    chosen = sorted(candidates[i] for i in picked)
    ids = {gt_id for _, gt_id in chosen}
    subset = {**gt, "images": [i for i in gt["images"] if int(i["id"]) in ids],
              "annotations": [a for a in gt["annotations"] if int(a["image_id"]) in ids]}
    return [uri for uri, _ in chosen], subset, len(candidates)


def _read_record(uri: str) -> Sample | None:
    import fsspec

    try:
        with fsspec.open(uri, "r") as f:
            record = json.load(f)
        return Sample(**{**record, "inputs": tuple(record["inputs"]), "images": tuple(record["images"])})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"cannot read the sample record {redact(uri)}: {exc}; remove {SAMPLE_DIR}/ "
                         "to draw the sample again") from None


def fix_sample(output: str, inputs: tuple[str, ...], annotations: str, gt: dict[str, Any], count: int, seed: int,
               match: str = "basename", write: bool = True) -> tuple[Sample, bool]:
    """The selection's sample under `output`: the one drawn before when there is one (asked for
    the same way; else a one-line error), or drawn now from `inputs` and, with `write`, written.
    Returns it and whether it was drawn before."""
    import fsspec

    folder = join(output, SAMPLE_DIR)
    record_uri = join(folder, _RECORD)
    asked = Sample(tuple(redact(i) for i in inputs), redact(annotations), count, seed, match, 0, (),
                   join(folder, _MANIFEST), join(folder, _GROUND_TRUTH))
    earlier = _read_record(record_uri)
    if earlier is not None:
        if not earlier.drawn_as(asked):
            raise ConfigError(f"{redact(folder)} holds a sample drawn with --sample {earlier.requested} --seed "
                              f"{earlier.seed} --match {earlier.match} from {', '.join(earlier.inputs)} against "
                              f"{earlier.annotations}: rerun with those, or give another --output")
        return earlier, True
    images, subset, matched = draw_sample(_input_images(inputs, exclude=(output,)), gt, count, seed, match)
    sample = Sample(**{**asdict(asked), "matched": matched, "images": tuple(images)})
    if write:
        fs, root = fsspec.core.url_to_fs(folder)
        fs.makedirs(root, exist_ok=True)
        with fsspec.open(sample.manifest, "w") as f:
            f.write(f"# {len(images)} images drawn with seed {seed} from {', '.join(sample.inputs)}\n")
            f.write("".join(f"{uri}\n" for uri in images))
        with fsspec.open(sample.ground_truth, "w") as f:
            json.dump(subset, f)
        with fsspec.open(record_uri, "w") as f:  # last: the sample is complete
            json.dump(asdict(sample), f, indent=1)
    return sample, False
