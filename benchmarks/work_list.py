"""The job's work list at lake scale: time and driver peak RSS of resolving the inputs of
`jobs/infer.py` and making Ray Data's read tasks from them, over a local folder tree of 1,000,000
files and a manifest of 1,000,000 URIs.

    python benchmarks/work_list.py --before OLD_TREE --runs 2 --out benchmarks/results/FILE.json

Tree: `--objects` empty `.jpg` files in `--folders` folders under `--tree` (made once, reused when
complete, removed afterwards unless `--keep-tree`). The job's inputs are the tree and its first
folder again, so the de-duplication across inputs runs (every image once).
Manifest: a text file of `--objects` absolute paths beside the tree (its entries are read in a read
task, on a worker; the driver holds one row for it).

Each measurement is a fresh process, `ru_maxrss` its peak RSS, given beside its RSS after the
imports (Ray Data among them): `resolve_inputs` (pipeline/sources.py), then
`ShardDatasource.get_read_tasks` at the parallelism Ray Data would ask for on `--cpus` CPUs
(no cluster is needed to make read tasks). `--before` measures another checkout's `effdet_batch`
(e.g. `git archive OLD effdet_batch | tar -x -C OLD_TREE`), alternating runs with this one. The
manifest's read task (the worker's cost of expanding it) is run in a process of its own.
`--s3-objects` on moto S3 (server mode on 127.0.0.1): the same resolution over a bucket prefix.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from measure import fresh_process, moto_s3, peak_rss, rss, write_record

ROOT = Path(__file__).resolve().parents[1]
COMPLETE = "_complete"  # a metadata name: the listing skips it


def _mib(value: int) -> float:
    return round(value / 2**20, 1)


def _name(i: int, folders: int) -> str:
    return f"d{i % folders:04d}/{i:07d}.jpg"


def _tree(root: Path, objects: int, folders: int) -> None:
    """Empty files, made once: a tree that says it is complete for this size is reused."""
    marker = root / COMPLETE
    if marker.exists() and marker.read_text() == f"{objects} {folders}":
        return
    shutil.rmtree(root, ignore_errors=True)
    for f in range(min(folders, objects)):
        (root / f"d{f:04d}").mkdir(parents=True)
    for i in range(objects):
        os.close(os.open(root / _name(i, folders), os.O_CREAT | os.O_WRONLY, 0o644))
    marker.write_text(f"{objects} {folders}")


def _manifest(path: Path, root: Path, objects: int, folders: int) -> None:
    with open(path, "w") as f:
        f.writelines(f"{root}/{_name(i, folders)}\n" for i in range(objects))


def _imports(package: str | None):
    if package:
        sys.path.insert(0, package)  # before the checkout: this process measures the other tree
    else:
        sys.path.insert(0, str(ROOT))
    from effdet_batch.pipeline.datasource import ShardDatasource
    from effdet_batch.pipeline.readers import ReadOptions
    from effdet_batch.pipeline.sources import resolve_inputs

    return resolve_inputs, ShardDatasource, ReadOptions


def _parallelism(source, cpus: int) -> int:
    """The parallelism Ray Data asks a read for (ray.data._internal.util._autodetect_parallelism),
    with `cpus` for the cluster's CPUs, which it would ask a running cluster for."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    size = source.estimate_inmemory_data_size()
    low, high = (1, sys.maxsize) if size is None else (max(1, size // ctx.target_max_block_size),
                                                       max(1, size // ctx.target_min_block_size))
    return max(min(ctx.read_op_min_num_blocks, high), low, 2 * cpus)


def _driver_child(package: str | None, inputs: list[str], images: int | None, cpus: int) -> dict[str, Any]:
    """One measured resolution and read-task making, in this (fresh) process."""
    resolve_inputs, ShardDatasource, ReadOptions = _imports(package)
    import fsspec

    from ray.data import DataContext

    fsspec.core.url_to_fs(inputs[0])[0].exists(f"{inputs[0]}/not-there")  # the filesystem's client first
    DataContext.get_current()  # and Ray Data's context, made once per process
    rss_imports = rss()
    start = time.perf_counter()
    shards = resolve_inputs(inputs)
    resolved = time.perf_counter() - start
    rss_work_list = rss()
    source = ShardDatasource(shards, ReadOptions())
    start = time.perf_counter()
    parallelism = _parallelism(source, cpus)
    tasks = source.get_read_tasks(parallelism)
    made = time.perf_counter() - start
    if images is not None and len(shards) != images:
        raise AssertionError(f"work list of {len(shards)} shards, expected {images}")
    return {"seconds": round(resolved + made, 3), "resolve_seconds": round(resolved, 3),
            "read_tasks_seconds": round(made, 3), "shards": len(shards), "parallelism": parallelism,
            "read_tasks": len(tasks), "rss_after_imports_mib": _mib(rss_imports),
            "rss_after_work_list_mib": _mib(rss_work_list), "rss_with_read_tasks_mib": _mib(rss()),
            "peak_rss_mib": _mib(peak_rss())}


def _manifest_read_child(manifest: str, images: int) -> dict[str, Any]:
    """The manifest's read task run here, as a worker runs it: its blocks made and dropped."""
    resolve_inputs, ShardDatasource, ReadOptions = _imports(None)
    (task,) = ShardDatasource(resolve_inputs([manifest]), ReadOptions()).get_read_tasks(1)
    rss_imports = rss()
    start = time.perf_counter()
    rows = blocks = 0
    for block in task():
        rows, blocks = rows + block.num_rows, blocks + 1
    seconds = time.perf_counter() - start
    if rows != images:
        raise AssertionError(f"manifest read gave {rows} rows, expected {images}")
    return {"seconds": round(seconds, 3), "rows": rows, "blocks": blocks,
            "rss_after_imports_mib": _mib(rss_imports), "peak_rss_mib": _mib(peak_rss())}


def _alternating(before: Path | None, runs: int, args: list) -> dict[str, list]:
    out: dict[str, list] = {"before": [], "after": []} if before else {"after": []}
    for _ in range(runs):
        for which in out:
            out[which].append(fresh_process(__file__, ["driver", str(before) if which == "before" else "", *args]))
    return out


def _s3(objects: int, folders: int, runs: int, cpus: int) -> list[dict[str, Any]]:
    with moto_s3("lake", (f"images/{_name(i, folders)}" for i in range(objects))) as env:
        return [fresh_process(__file__, ["driver", "", ["s3://lake/images"], objects, cpus], env) for _ in range(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--folders", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=2, help="runs of each measurement (each a fresh process)")
    parser.add_argument("--before", type=Path, help="a folder holding another checkout's effdet_batch/ to measure")
    parser.add_argument("--tree", type=Path, default=Path("/tmp/effdet-work-list-tree"))
    parser.add_argument("--keep-tree", action="store_true", help="leave the tree and manifest for the next run")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="the CPUs Ray Data plans read tasks for")
    parser.add_argument("--s3-objects", type=int, default=5_000)
    parser.add_argument("--out", type=Path, help="also write the record to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = json.loads(args.child)
        result = _driver_child(rest[0] or None, *rest[1:]) if kind == "driver" else _manifest_read_child(*rest)
        print(json.dumps(result))
        return 0

    sys.path.insert(0, str(ROOT))
    from effdet_batch.benchmark import machine

    tree, manifest = args.tree.resolve(), args.tree.resolve().with_suffix(".manifest.txt")
    start = time.perf_counter()
    _tree(tree, args.objects, args.folders)
    _manifest(manifest, tree, args.objects, args.folders)
    made = round(time.perf_counter() - start, 1)
    try:
        on_tree = _alternating(args.before, args.runs, [[str(tree), str(tree / "d0000")], args.objects, args.cpus])
        on_manifest = _alternating(args.before, args.runs, [[str(manifest)], 1, args.cpus])
        manifest_read = [fresh_process(__file__, ["manifest_read", str(manifest), args.objects])
                         for _ in range(args.runs)]
    finally:
        if not args.keep_tree:
            shutil.rmtree(tree, ignore_errors=True)
            manifest.unlink(missing_ok=True)
    commit = args.before / "COMMIT" if args.before else None  # written beside the copy, if at all
    before = (commit.read_text().strip() if commit.exists() else str(args.before)) if commit else None
    record = {
        "command": " ".join(["python", "benchmarks/work_list.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "shared_machine": "the 2 cores are shared with other engineers' work: runs alternate, each is kept",
        "objects": args.objects, "folders": args.folders, "setup_seconds": made,
        "before": f"effdet_batch at {before}" if before else None,
        "tree": {"inputs": "the tree and its first folder (de-duplicated)", **on_tree},
        "manifest": {"inputs": "one text manifest", **on_manifest},
        "manifest_read_task": manifest_read,
        "moto_s3": _s3(args.s3_objects, args.folders, args.runs, args.cpus),
    }
    write_record(record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
