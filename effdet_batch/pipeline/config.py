"""Everything one inference run needs, validated once."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import ConfigError
from ..model.config import get_spec
from ..uri import check_scheme, has_credentials, is_remote, redact
from .decode import DECODE_MODES
from .lease import DEFAULT_EXPIRY_S
from .sources import FORMATS

__all__ = ["PipelineConfig", "new_run_id"]


def new_run_id() -> str:
    """A run id that sorts by start time (UTC), with a random suffix."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _absolute(uri: str) -> str:
    return uri if is_remote(uri) or uri.startswith("file://") else os.path.abspath(uri)


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of `jobs/infer.py`; `weights=None` means the official checkpoint.

    `format`, `image_column` and `id_column` say how to read the inputs (see `sources`,
    `readers`); `rows_per_file` is the least number of rows per output Parquet file (and the unit
    of resume); `s3_endpoint` overrides AWS_ENDPOINT_URL for this job and its workers; `labels`
    is a label file and `label_order` forces how it maps (`model.labels`); `decode` is
    one of `decode.DECODE_MODES` (fast: large JPEGs decoded reduced, exact: all at full size); `wait`
    makes a run wait for another run's live lease on the output instead of stopping, and
    `lease_expiry` is how long this run's lease lasts unrenewed (`lease.OutputLease`)."""

    model: str
    inputs: tuple[str, ...]
    output: str
    weights: str | None = None
    format: str = "auto"
    image_column: str = "image"
    id_column: str | None = None
    batch_size: int = 8
    precision: str = "auto"
    device: str = "auto"
    num_gpus_per_actor: float = 1.0
    actors: tuple[int, int] = (1, 1)
    min_score: float = 0.0
    max_detections: int = 100
    limit: int | None = None
    rows_per_file: int = 4096
    s3_endpoint: str | None = None
    labels: str | None = None
    label_order: str | None = None
    decode: str = "fast"
    wait: bool = False
    lease_expiry: float = DEFAULT_EXPIRY_S
    run_id: str = field(default_factory=new_run_id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", get_spec(self.model).name)
        # Workers do not share the driver's working directory: local paths are made absolute.
        object.__setattr__(self, "inputs", tuple(_absolute(i) for i in self.inputs))
        object.__setattr__(self, "output", _absolute(self.output))
        if not self.inputs:
            raise ConfigError("at least one --input is required")
        for what, uri in [*(("input", i) for i in self.inputs), ("output", self.output)]:
            check_scheme(uri, what)
            if has_credentials(uri):  # ids and source URIs are written into every row
                raise ConfigError(f"{what} {redact(uri)}: credentials in the URI are refused; give them in the "
                                  "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a profile")
        if self.weights not in (None, "random"):
            check_scheme(self.weights, "weights")
        if self.labels is not None:
            check_scheme(self.labels, "labels")
        if self.label_order not in (None, "id", "position"):
            raise ConfigError(f"unknown --label-order {self.label_order!r}: expected id or position")
        if self.format not in FORMATS:
            raise ConfigError(f"unknown --format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if not 0 < self.num_gpus_per_actor <= 8:
            raise ConfigError(f"--num-gpus-per-actor must be in (0, 8], got {self.num_gpus_per_actor}")
        low, high = self.actors
        if not 1 <= low <= high:
            raise ConfigError(f"--actors must be N or MIN,MAX with 1 <= MIN <= MAX, got {low},{high}")
        if not 0 <= self.min_score <= 1:
            raise ConfigError(f"--min-score must be in [0, 1], got {self.min_score}")
        if self.max_detections < 1:
            raise ConfigError(f"--max-detections must be at least 1, got {self.max_detections}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.rows_per_file < 1:
            raise ConfigError(f"--rows-per-file must be at least 1, got {self.rows_per_file}")
        if self.decode not in DECODE_MODES:
            raise ConfigError(f"unknown --decode {self.decode!r}: expected one of {', '.join(DECODE_MODES)}")
        if not self.lease_expiry > 0:
            raise ConfigError(f"--lease-expiry must be a positive number of seconds, got {self.lease_expiry}")
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"--s3-endpoint must be an http(s):// URL, got {self.s3_endpoint!r}")
