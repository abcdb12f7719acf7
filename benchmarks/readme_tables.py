"""The README's measurement tables, made from the records under benchmarks/results/.

    python benchmarks/readme_tables.py           # print each table
    python benchmarks/readme_tables.py --write   # replace the README's tables with them

A table sits in the README between `<!-- results:NAME -->` and `<!-- /results:NAME -->`;
tests/test_readme_tables.py fails when one no longer matches its record.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"


def _record(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _source(name: str, record: dict) -> str:
    machine = record.get("machine", {})
    where = f"{machine.get('cores', '?')}-core {machine.get('cpu', 'CPU')}"
    return f"`{record['command']}`, {where}, {str(record['date'])[:10]} (`benchmarks/results/{name}`)"


def decode_table() -> str:
    name = "decode_cpu_2026-12-01.json"
    record = _record(name)
    rows = ["| input | exact ms/image | fast ms/image | fast / exact | drift (mean abs grey levels) |",
            "|---|---|---|---|---|"]
    rows += [f"| {r['image_size']} | {r['exact_ms_per_image']:.0f} | {r['fast_ms_per_image']:.0f} | "
             f"{r['fast_over_exact']:.2f}× | {r['canvas_mean_abs_diff']:.2f} |" for r in record["results"]]
    width, height = record["image_pixels"]
    return "\n".join([f"{width}×{height} JPEGs, one core; {_source(name, record)}:", "", *rows])


def model_table() -> str:
    name = "nms_memory_cpu_2026-12-01.json"
    bench = _record(name)["cpu_d0_benchmark"]
    medians = bench["result"]["medians_images_per_second"]
    rows = ["| benchmark | images/s (median of 5) |", "|---|---|"]
    rows += [f"| {kind} | {medians[kind]['after']:.2f} |" for kind in ("forward", "predict")]
    record = {**bench, "date": _record(name)["date"], "machine": _record(name)["machine"]}
    return "\n".join([f"D0, fp32, batch 8, random weights; {_source(name, record)}:", "", *rows])


def pipeline_table() -> str:
    name = "pipeline_cpu_2026-11-23.json"
    record = _record(name)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    rows = ["| images | pipeline images/s | predict images/s | ratio (median) |", "|---|---|---|---|"]
    rows += [f"| {r['images']} | {runs(r['pipeline_images_per_second'])} | {runs(r['predict_images_per_second'])} | "
             f"{runs(r['pipeline_over_predict'])} ({statistics.median(r['pipeline_over_predict']):.2f}) |"
             for r in record["results"]]
    head = (f"D0, fp32, batch {record['batch_size']}, {record['actors']} actor, runs in a row; "
            f"{_source(name, record)}:")
    return "\n".join([head, "", *rows])


def lakes_table() -> str:
    name = "pipeline_lakes_cpu_2026-12-07.json"
    record = _record(name)
    runs = record["runs"]
    first = runs[0]

    def listed(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    def with_median(values: list[float]) -> str:
        return f"{listed(values)} ({statistics.median(values):.2f})"

    groups: dict[tuple, list[tuple[dict, dict]]] = {}
    for run in runs:
        for store in run["stores"]:
            groups.setdefault((run["lake"]["name"], run["lake"]["images"], store["store"]), []).append((run, store))
    rows = ["| lake | images | store | pipeline images/s | detect images/s | pipeline / detect (median) | "
            "after the first batch / detect (median) | S3 / local (median) |", "|---|---|---|---|---|---|---|---|"]
    for (lake, images, store), measured in groups.items():
        over_local = [s["over_local"] for _, s in measured if "over_local" in s]
        steady = [s["steady_images_per_second"] / r["detect_images_per_second"] for r, s in measured]
        rows.append(f"| {lake} | {images} | {store} | {listed([s['pipeline_images_per_second'] for _, s in measured])} "
                    f"| {listed([r['detect_images_per_second'] for r, _ in measured])} "
                    f"| {with_median([s['over_detect'] for _, s in measured])} | {with_median(steady)} "
                    f"| {with_median(over_local) if over_local else ''} |")
    kinds: dict[str, list[dict]] = {}
    for run in runs:
        for kind, figures in run["lake"]["kinds"].items():
            kinds.setdefault(kind, []).append(figures)
    rows += ["", "| kind of file | pixels | mean bytes | decode + letterbox ms per image (median) |", "|---|---|---|---|"]
    rows += [f"| {kind} | {f[0]['pixels'][0]}×{f[0]['pixels'][1]} | {f[0]['mean_bytes']:,} | "
             f"{statistics.median(x['decode_ms_per_image'] for x in f):.0f} |" for kind, f in kinds.items()]
    dates = sorted(str(r["date"])[:10] for r in runs)
    machine = first["machine"]
    commands = "; ".join(f"`{c}`" for c in record["commands"])
    head = (f"D0, {first['precision']}, batch {first['batch_size']}, {first['actors']} actor, each run a fresh process, "
            f"S3 {first['stores'][-1].get('delay_ms', 50)} ms away; {commands}, {machine['cores']}-core "
            f"{machine['cpu']}, {dates[0]} (`benchmarks/results/{name}`):")
    return "\n".join([head, "", *rows])


def _runs(values: list[float], fmt: str = "{:.1f}") -> str:
    """A figure of each run, in the order they ran."""
    return ", ".join(fmt.format(v) for v in values)


def relabel_table() -> str:
    name = "relabel_state_cpu_2026-12-02.json"
    record = _record(name)
    diff = record["diff"]
    rows = ["| state.py | seconds per run | driver peak RSS per run (MiB) | of it, imports + listing (MiB) |",
            "|---|---|---|---|"]
    for which, what in (("before", "before: dicts of tuples"), ("after", "after: Arrow arrays")):
        measured = diff.get(which, [])
        if measured:
            rows.append(f"| {what} | {_runs([m['seconds'] for m in measured])} | "
                        f"{_runs([m['peak_rss_mib'] for m in measured], '{:.0f}')} | "
                        f"{_runs([m['rss_after_listing_mib'] for m in measured], '{:.0f}')} |")
    rows += ["", "| `list_files(detail=True)` | objects | objects/s per run | RSS per object held (bytes) |",
             "|---|---|---|---|"]
    for key, what in (("listing_local_tree", "local tree"), ("listing_moto_s3", "moto S3 (loopback)")):
        measured = record[key]
        rows.append(f"| {what} | {measured[0]['objects']:,} | {_runs([m['objects_per_second'] for m in measured], '{:,}')} "
                    f"| {_runs([m['rss_added_bytes_per_object'] for m in measured], '{:,}')} |")
    head = (f"{diff['objects']:,} objects, {diff['changed']:,} changed ({diff['new']} new, {diff['rewritten']} "
            f"rewritten), the listing generated, the state a local Parquet file; {_source(name, record)}:")
    return "\n".join([head, "", *rows])


def work_list_table() -> str:
    name = "work_list_cpu_2026-12-02.json"
    record = _record(name)

    def runs(measured: list[dict], key: str, fmt: str) -> str:
        return _runs([m[key] for m in measured], fmt)

    rows = ["| inputs | code | seconds per run (resolve, read tasks) | driver peak RSS per run (MiB) | "
            "of it, after the imports (MiB) |", "|---|---|---|---|---|"]
    objects = f"{record['objects']:,}"
    inputs = ((f"tree of {objects} files, and its first folder again", record["tree"]),
              (f"manifest of {objects} URIs", record["manifest"]),
              (f"moto S3 (loopback), {record['moto_s3'][0]['shards']:,} objects", {"after": record["moto_s3"]}))
    for what, measured in inputs:
        for which, code in (("before", "before: Python objects"), ("after", "after: Arrow columns")):
            if measured.get(which):
                m = measured[which]
                times = ", ".join(f"{r['seconds']:.1f} ({r['resolve_seconds']:.1f}, {r['read_tasks_seconds']:.1f})"
                                  for r in m)
                rows.append(f"| {what} | {code} | {times} | {runs(m, 'peak_rss_mib', '{:.0f}')} | "
                            f"{runs(m, 'rss_after_imports_mib', '{:.0f}')} |")
    read = record["manifest_read_task"]
    rows.append(f"| the manifest's read task (a worker: {read[0]['rows']:,} rows) | after | "
                f"{runs(read, 'seconds', '{:.1f}')} | {runs(read, 'peak_rss_mib', '{:.0f}')} | "
                f"{runs(read, 'rss_after_imports_mib', '{:.0f}')} |")
    head = (f"{record['folders']:,} folders, read tasks at Ray Data's parallelism for the machine's CPUs, "
            f"before = {record['before']}; {_source(name, record)}:")
    return "\n".join([head, "", *rows])


TABLES: dict[str, Callable[[], str]] = {"decode": decode_table, "model": model_table, "pipeline": pipeline_table, "lakes": lakes_table,
                                        "relabel": relabel_table, "work_list": work_list_table}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- results:{name} -->)(.*?)(<!-- /results:{name} -->)", re.S)


def readme_table(text: str, name: str) -> str | None:
    """The table the README holds under `name`, or None when it has none."""
    match = _block(name).search(text)
    return match.group(2).strip("\n") if match else None


def write_readme() -> None:
    text = README.read_text()
    for name, make in TABLES.items():
        if readme_table(text, name) is None:
            raise SystemExit(f"README.md has no <!-- results:{name} --> block")
        text = _block(name).sub(lambda m, t=make(): f"{m.group(1)}\n{t}\n{m.group(3)}", text)
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the README's tables")
    if parser.parse_args().write:
        write_readme()
        return
    for name, make in TABLES.items():
        print(f"## {name}\n{make()}\n")


if __name__ == "__main__":
    main()
