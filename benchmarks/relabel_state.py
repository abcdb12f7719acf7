"""The nightly diff at lake scale: time and driver peak RSS of `jobs/relabel.py`'s state diff over a
lake of 1,000,000 objects with 1,000 changed, and the listing helper's rate per object.

    python benchmarks/relabel_state.py --before OLD_STATE.py --runs 2 --out benchmarks/results/FILE.json

Diff: what a relabel run does between listing the lake and labelling, with relabel/state.py's own
functions: `list_lake`, `load_state` (the previous state, a Parquet file on the local filesystem),
`changed_objects` and `save_state` (the new state). A listing of a million S3 objects cannot be made
here in reasonable time, so `list_lake`'s listing helper returns a generated `listing.Listing` of
`--objects` entries (Arrow columns, as `list_files` returns them). Of them `--changed` are work: half new
URIs, half rewritten (a new ETag). Each run is a fresh process: its peak RSS (`ru_maxrss`) is the
driver's, given beside its RSS after the imports (torch among them: relabel imports the pipeline)
and after the generated listing. `--before` also measures another state.py (an older version),
alternating runs with the current one.

Listing: `list_files` as `list_lake` calls it, over a local tree of `--tree-objects`
files and a moto S3 bucket (server mode on 127.0.0.1, in this process) of `--s3-objects` objects:
objects per second and the RSS added per object while the listing is held.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from measure import fresh_process, moto_s3, peak_rss, rss, write_record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout without install

LAKE = "s3://lake/images"


def _uri(i: int) -> str:
    return f"{LAKE}/cam-{i % 500:03d}/2026-11/{i:07d}.jpg"


def _etag(i: int, generation: int = 0) -> str:
    return f'"{(i * 2654435761 + generation * 40503) % 2**128:032x}"'


def _lake(objects: int, changed: int) -> tuple[range, range, list[int]]:
    """(all objects, the new ones at the end, the rewritten ones spread over the others)."""
    added = changed // 2
    old = objects - added
    step = max(1, old // (changed - added)) if changed > added else 1
    return range(objects), range(old, objects), list(range(0, old, step))[:changed - added]


def _load(path: Path | None) -> ModuleType:
    if path is None:
        from effdet_batch.relabel import state

        return state
    import effdet_batch.relabel  # noqa: F401  (the package its relative imports resolve in)

    spec = importlib.util.spec_from_file_location("effdet_batch.relabel._state_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _diff_child(state_file: Path | None, output: str, objects: int, changed: int) -> dict[str, Any]:
    """One measured diff, in this (fresh) process."""
    module = _load(state_file)
    import pyarrow as pa

    from effdet_batch.listing import LISTING_SCHEMA, Listing

    rss_imports = rss()
    everything, added, rewritten = _lake(objects, changed)
    rewritten_set = set(rewritten)
    listing = Listing(pa.table([[_uri(i) for i in everything], [1_000_000 + i % 4_000_000 for i in everything],
                                [_etag(i, int(i in rewritten_set)) for i in everything]], schema=LISTING_SCHEMA), False)
    del rewritten_set
    rss_listing = rss()
    handed = [listing]
    del listing  # list_lake holds the only reference, as to list_files' result in a run
    module.list_files = lambda *args, **kwargs: handed.pop()  # what the listing helper returns
    seconds = {}
    start = time.perf_counter()
    current = module.list_lake(LAKE)
    seconds["list_lake"] = time.perf_counter() - start
    previous = module.load_state(output)
    seconds["load_state"] = time.perf_counter() - start - sum(seconds.values())
    new, changed_uris = module.changed_objects(current, previous)
    seconds["changed_objects"] = time.perf_counter() - start - sum(seconds.values())
    module.save_state(output, current)
    seconds["save_state"] = time.perf_counter() - start - sum(seconds.values())
    total = time.perf_counter() - start
    if new != sorted(_uri(i) for i in added) or changed_uris != sorted(_uri(i) for i in rewritten):
        raise AssertionError(f"wrong diff: {len(new)} new, {len(changed_uris)} changed")
    return {"seconds": round(total, 3), "step_seconds": {k: round(v, 3) for k, v in seconds.items()},
            "images_new": len(new), "images_changed": len(changed_uris),
            "rss_after_imports_mib": round(rss_imports / 2**20, 1),
            "rss_after_listing_mib": round(rss_listing / 2**20, 1),
            "peak_rss_mib": round(peak_rss() / 2**20, 1)}


def _listing_child(root: str, objects: int) -> dict[str, Any]:
    import fsspec

    from effdet_batch.listing import list_files

    fs, path = fsspec.core.url_to_fs(root)
    fs.exists(f"{path}/not-there")  # the filesystem's imports and client made before the clock
    before = rss()
    start = time.perf_counter()
    found = list_files(root, "lake")
    seconds = time.perf_counter() - start
    if found.files.num_rows != objects:
        raise AssertionError(f"listed {found.files.num_rows} of {objects}")
    return {"objects": objects, "seconds": round(seconds, 3), "objects_per_second": round(objects / seconds),
            "us_per_object": round(seconds / objects * 1e6, 1),
            "rss_added_bytes_per_object": round((rss() - before) / objects)}  # the listing and fs caches held


def _previous_state(path: Path, objects: int, changed: int) -> None:
    """The state the last good night wrote: the lake without the new objects, the rewritten ones at
    their old ETag."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, added, _ = _lake(objects, changed)
    old = range(added.start)
    path.parent.mkdir(parents=True)
    table = pa.table({"uri": [_uri(i) for i in old], "size": pa.array([1_000_000 + i % 4_000_000 for i in old],
                                                                       pa.int64()),
                      "version": [_etag(i) for i in old]})
    pq.write_table(table.sort_by("uri"), path)


def _diff_runs(before: Path | None, objects: int, changed: int, runs: int, work: Path) -> dict[str, list]:
    seed = work / "seed" / "_relabel" / "state.parquet"
    _previous_state(seed, objects, changed)
    out: dict[str, list] = {"before": [], "after": []} if before else {"after": []}
    for r in range(runs):
        for which in out:
            output = work / f"{which}-{r}"
            shutil.copytree(seed.parent.parent, output)
            out[which].append(fresh_process(__file__, ["diff", str(before) if which == "before" else "", str(output),
                                                        objects, changed]))
            shutil.rmtree(output)
    return out


def _tree(root: Path, objects: int) -> None:
    for i in range(objects):
        path = root / f"cam-{i % 100:03d}" / f"{i:07d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def _s3_listing(objects: int, runs: int) -> list[dict[str, Any]]:
    with moto_s3("lake", (_uri(i)[len("s3://lake/"):] for i in range(objects))) as env:
        return [fresh_process(__file__, ["listing", LAKE, objects], env) for _ in range(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=2, help="runs of each measurement (each a fresh process)")
    parser.add_argument("--before", type=Path, help="another relabel/state.py to measure against")
    parser.add_argument("--tree-objects", type=int, default=20_000)
    parser.add_argument("--s3-objects", type=int, default=5_000)
    parser.add_argument("--out", type=Path, help="also write the record to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = json.loads(args.child)
        if kind == "diff":
            result = _diff_child(Path(rest[0]) if rest[0] else None, *rest[1:])
        else:
            result = _listing_child(*rest)
        print(json.dumps(result))
        return 0

    from effdet_batch.benchmark import machine

    with tempfile.TemporaryDirectory(prefix="relabel-bench-") as tmp:
        work = Path(tmp)
        diff = _diff_runs(args.before, args.objects, args.changed, args.runs, work)
        _tree(work / "tree", args.tree_objects)
        tree = [fresh_process(__file__, ["listing", str(work / "tree"), args.tree_objects])
                for _ in range(args.runs)]
    record = {
        "command": " ".join(["python", "benchmarks/relabel_state.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "shared_machine": "the 2 cores are shared with other engineers' work: runs alternate, each is kept",
        "diff": {"objects": args.objects, "changed": args.changed, "new": args.changed // 2,
                 "rewritten": args.changed - args.changed // 2,
                 "listing": "generated listing.Listing (Python lists, as list_files returns), not S3",
                 "state": "local filesystem Parquet", "before_state_py": str(args.before) if args.before else None,
                 **diff},
        "listing_local_tree": tree,
        "listing_moto_s3": _s3_listing(args.s3_objects, args.runs),
    }
    write_record(record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
