"""A capacity plan for a nightly volume: how many GPUs (or CPU nodes) a model needs to label M
images within the night, for how many hours, at what cost, how many CPU cores per GPU decoding
the images takes, and the object-store request rate with the shard format that keeps it under
S3's limit. A pure function of measured per-image costs; every figure comes with its arithmetic,
so a reader can check it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["S3_GETS_PER_PREFIX", "READ_BLOCK_BYTES", "CapacityPlan", "plan_capacity"]

# S3's documented request rate: 5,500 GET/HEAD requests per second per partitioned prefix
# ("Best practices design patterns: optimizing Amazon S3 performance").
S3_GETS_PER_PREFIX = 5500
# A tar or Parquet shard is read as one stream, in ranged GETs of s3fs's default block (50 MiB).
READ_BLOCK_BYTES = 50 * 2**20


@dataclass(frozen=True)
class CapacityPlan:
    """The plan's figures (see `plan_capacity`) and `lines`, the arithmetic behind each."""

    model: str
    unit: str  # "GPU" or "CPU node"
    images_per_night: int
    night_hours: float
    images_per_second: float  # per device, as measured
    startup_seconds: float  # a fixed cost per run (0 when not measured)
    devices: int
    hours: float  # wall-clock, start-up included
    device_hours: float
    cost: float | None  # None without a price
    decode_cores_per_device: float | None  # CPU cores busy decoding per device (None: not measured)
    requests_per_second: float  # GETs as image files: one per image
    shard_images: int | None  # least images per tar/Parquet shard that keep the GETs under; None: files will do
    shard_requests_per_second: float | None
    prefixes: int  # prefixes the objects must spread over (1 when the format alone keeps under)
    lines: list[str] = field(default_factory=list)


def _n(value: float) -> str:
    """A figure as the plan prints it: whole numbers with thousands separated, others to about
    three significant digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def plan_capacity(model: str, unit: str, images_per_night: int, night_hours: float, images_per_second: float,
                  startup_seconds: float | None = None, decode_cpu_seconds_per_image: float | None = None,
                  mean_image_bytes: float | None = None, price: float | None = None) -> CapacityPlan:
    """Plan `images_per_night` images of `model` within `night_hours`, from its measured
    `images_per_second` per device (`unit`: "GPU" or "CPU node"), its start-up per run, the CPU
    seconds decoding one image takes on one core and the mean encoded image size; `price` is per
    device-hour.

    devices   N = ceil(M / (r x (3600 H - s)))      (M images, r images/s per device, H hours, s start-up)
    hours     T = (s + M / (N r)) / 3600
    cost      N x T x price
    decoding  d x r cores per GPU                   (d CPU seconds per image)
    GETs      N x r per second as image files; a shard of n images is ceil(n b / B) GETs
              (b bytes per image, B the read block), so n >= ceil(N r / 5,500) keeps one prefix under
    """
    if images_per_night <= 0 or night_hours <= 0 or images_per_second <= 0:
        raise ConfigError("a capacity plan needs a positive --images-per-night, --night-hours and throughput")
    m, r, s = images_per_night, images_per_second, startup_seconds or 0.0
    window = 3600 * night_hours - s
    if window <= 0:
        raise ConfigError(f"{model}'s start-up ({s:g} s) is longer than the night ({night_hours:g} h)")
    devices = math.ceil(m / (r * window))
    seconds = s + m / (devices * r)
    hours = seconds / 3600
    device_hours = devices * hours
    cost = device_hours * price if price is not None else None
    per = f"per {unit}"
    lines = [
        f"{model}: r = {_n(r)} images/s {per}, start-up s = {_n(s)} s per run; M = {_n(m)} images in H = "
        f"{_n(night_hours)} h.",
        f"{unit}s: N = ceil(M / (r x (3600 H - s))) = ceil({_n(m)} / ({_n(r)} x {_n(window)})) = "
        f"ceil({_n(m / (r * window))}) = {devices}.",
        f"Hours: T = (s + M / (N r)) / 3600 = ({_n(s)} + {_n(m)} / ({devices} x {_n(r)})) / 3600 = {_n(hours)} h.",
        f"{unit}-hours: N x T = {devices} x {_n(hours)} = {_n(device_hours)}"
        + (f"; cost at {_n(price)} per {unit}-hour: {_n(device_hours)} x {_n(price)} = {_n(cost)}."
           if cost is not None else "; no price given (--gpu-hour-price)."),
    ]
    cores = decode_cpu_seconds_per_image * r if decode_cpu_seconds_per_image is not None else None
    if cores is None:
        lines.append("Decoding: not measured (no run of this model records its decode cost per image).")
    elif unit == "GPU":
        lines.append(f"Decoding: d x r = {_n(decode_cpu_seconds_per_image)} CPU s/image x {_n(r)} images/s = "
                     f"{_n(cores)} cores per GPU: at least {math.ceil(cores)} CPU cores per GPU "
                     f"({math.ceil(cores) * devices} in all) for the sample's mix of images.")
    else:
        lines.append(f"Decoding: d x r = {_n(decode_cpu_seconds_per_image)} CPU s/image x {_n(r)} images/s = "
                     f"{_n(cores)} of each node's cores, within its measured rate (decoding runs in the "
                     "detector actor on CPU nodes).")
    rate = devices * r
    lines.append(f"Object-store requests: N x r = {devices} x {_n(r)} = {_n(rate)} images/s; as image files, one "
                 f"GET each: {_n(rate)} GET/s against S3's {S3_GETS_PER_PREFIX:,} per prefix.")
    shard_images = shard_rate = None
    prefixes = 1
    if rate <= S3_GETS_PER_PREFIX:
        lines.append("Shard format: image files will do (under the limit on one prefix).")
    else:
        shard_images = math.ceil(rate / S3_GETS_PER_PREFIX)
        gets = math.ceil(shard_images * mean_image_bytes / READ_BLOCK_BYTES) if mean_image_bytes else 1
        shard_rate = rate / shard_images * gets
        prefixes = math.ceil(shard_rate / S3_GETS_PER_PREFIX)
        size = (f"{gets} GET(s) of a {READ_BLOCK_BYTES // 2**20} MiB read block for {shard_images} x "
                f"{_n(mean_image_bytes / 1e6)} MB" if mean_image_bytes
                else "assumed one GET (image size not measured)")
        lines.append(f"Shard format: tar/Parquet shards of at least n = ceil({_n(rate)} / {S3_GETS_PER_PREFIX:,}) = "
                     f"{shard_images} images ({size}): {_n(rate)} / {shard_images} x {gets} = {_n(shard_rate)} GET/s"
                     + (f", still over: spread them over {prefixes} prefixes." if prefixes > 1 else ".")
                     + f" Image files instead need ceil({_n(rate)} / {S3_GETS_PER_PREFIX:,}) = "
                     f"{math.ceil(rate / S3_GETS_PER_PREFIX)} prefixes.")
    return CapacityPlan(model, unit, m, night_hours, r, s, devices, hours, device_hours, cost, cores, rate,
                        shard_images, shard_rate, prefixes, lines)
