"""The run summary: one typed record of what an inference run did, written as the run manifest
(`_manifest-<run>.json`) and printed as the job's last stdout line; the report, the benchmark and
the nightly run read it back through `RunSummary.from_json`.

Every field but `run_id` and `model` may be missing from a manifest written by an older version
(it reads as None), and keys this version does not know are kept in `extra` and written back, so
reading and rewriting a manifest loses nothing.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import InputError, first_line
from ..uri import join, redact

log = logging.getLogger(__name__)

__all__ = ["RunSummary", "MANIFEST_GLOB", "manifest_uri", "read_manifests", "summary_text", "summary_json"]

MANIFEST_GLOB = "_manifest-*.json"


@dataclass(frozen=True)
class RunSummary:
    """One run, as `run_inference` returns it (`dry_run`: validated only, nothing run).

    Speed: `images_per_second` is the whole run's (start-up included); `steady_images_per_second`
    is from the first finished detector batch to the last (see `batch_times`), and
    `time_to_first_batch_seconds` the start-up, a fixed cost per run. Per image, over the images the
    actors saw: `decode_cpu_seconds_per_image` (decode + letterbox, CPU seconds of one core) and
    `mean_image_bytes`. `device_count` is the GPUs, or the CPU nodes, of the cluster.
    """

    run_id: str
    model: str
    weights: str | None = None  # "official", "random" or the checkpoint's (redacted) URI
    weights_state: str | None = None  # the state dict of a training file ("" for a plain one)
    labels: dict[str, Any] | None = None  # source, sha256, num_classes, categories
    input: list[str] | None = None
    output: str | None = None
    started: str | None = None
    shards: dict[str, int] | None = None  # shards per input format
    batch_size: int | None = None
    decode: str | None = None  # --decode mode; None in manifests from before it was recorded
    dry_run: bool = False
    finished: str | None = None
    images_total: int | None = None  # rows written by this run
    images_ok: int | None = None
    images_failed: int | None = None
    images_in_output: int | None = None
    wall_seconds: float | None = None
    images_per_second: float | None = None
    device: str | None = None
    device_count: int | None = None
    nodes_lost: list[dict[str, str]] | None = None  # nodes that died during the run: node_id, address, reason
    device_name: str | None = None
    precision: str | None = None
    batches: int | None = None
    time_to_first_batch_seconds: float | None = None
    steady_images: int | None = None
    steady_seconds: float | None = None
    steady_images_per_second: float | None = None
    decode_cpu_seconds_per_image: float | None = None
    mean_image_bytes: float | None = None
    config: dict[str, Any] | None = None
    failures: list[dict[str, str]] = field(default_factory=list)  # the first 100: image_id, error
    ray_data_stats: str | None = None
    versions: dict[str, str] | None = None
    relabel: dict[str, Any] | None = None  # jobs/relabel.py's counts, partition and churn
    extra: dict[str, Any] = field(default_factory=dict)  # keys of another version, kept as they were

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON object: every field (None as null), then `extra`'s keys."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """The record of a manifest's JSON object, of this version or an older one. A ValueError
        names what is missing when it is not a run summary at all."""
        missing = [name for name in ("run_id", "model") if name not in data]
        if missing:
            raise ValueError(f"not a run summary: no {', '.join(missing)}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("failures") is None:
            values.pop("failures", None)
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})


def summary_text(summary: RunSummary, failures_shown: int = 5) -> str:
    """The run summary on one screen, for people (the JSON line is for programs)."""
    s = summary
    if s.dry_run:
        return (f"dry run {s.run_id}: {s.model}, shards {s.shards}, output {s.output} writable; "
                "nothing was run")
    lines = [
        f"run {s.run_id}: EfficientDet-{s.model} ({s.weights} weights)",
        f"  images   {s.images_total} this run: {s.images_ok} ok, {s.images_failed} failed; "
        f"{s.images_in_output} in the output in all",
        f"  speed    {s.images_per_second} images/s over {s.wall_seconds} s",
    ]
    if s.steady_images_per_second is not None:
        lines.append(f"  steady   {s.steady_images_per_second} images/s after the first batch "
                     f"({s.time_to_first_batch_seconds} s to it)")
    lines += [
        f"  device   {s.device} x{s.device_count} ({s.device_name}), {s.precision}, batch {s.batch_size}",
        f"  output   {s.output}  (manifest _manifest-{s.run_id}.json)",
    ]
    for node in s.nodes_lost or []:
        lines.append(f"  lost     node {node['address']} ({node['node_id'][:12]}) during the run; its work was "
                     f"redone on the others: {node['reason']}")
    for failure in s.failures[:failures_shown]:
        lines.append(f"  failed   {failure['image_id']}: {failure['error']}")
    if (s.images_failed or 0) > failures_shown:
        lines.append(f"  ... {s.images_failed - failures_shown} more failures: see the `error` column")
    return "\n".join(lines)


def summary_json(summary: RunSummary) -> str:
    """The summary as the one JSON line a job prints last (Ray Data's stats stay in the manifest)."""
    return json.dumps({k: v for k, v in summary.to_json().items() if k != "ray_data_stats"})


def manifest_uri(output: str, run_id: str) -> str:
    """Where a run's manifest lives: beside its Parquet, named by its run id."""
    return join(output, f"_manifest-{run_id}.json")


def read_manifests(output: str, *, skip_unreadable: bool = False) -> list[RunSummary]:
    """The runs written into `output`: its run manifests, by name; none where `output` holds none or
    does not exist yet. A manifest that cannot be read is an InputError (one line), or is skipped
    with `skip_unreadable` (a killed run may have left it half-written)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(output)
    if not fs.isdir(root):
        return []
    summaries = []
    for path in sorted(fs.glob(join(root, MANIFEST_GLOB))):
        try:
            with fs.open(path, "r") as f:
                summaries.append(RunSummary.from_json(json.load(f)))
        except (OSError, ValueError, TypeError) as exc:
            if not skip_unreadable:
                raise InputError(f"cannot read run manifest {redact(path)}: {first_line(exc)}") from None
            log.debug("skipping run manifest %s: %s", redact(path), first_line(exc))
    return summaries
