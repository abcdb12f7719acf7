"""One nightly run: list the lake, label what is new or changed since the last successful run
into `<output>/date=YYYY-MM-DD/run=<run id>/`, write the label churn, then (only then) record the
new state. A run that dies leaves the state as it was, and the next run finishes it in the same
partition, whose checkpoint keeps the rows already committed."""
from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from datetime import date as Date
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ..datasets import open_dataset
from ..errors import ConfigError
from ..pipeline import PipelineConfig, run_inference
from ..pipeline.config import new_run_id
from ..pipeline.lease import DEFAULT_EXPIRY_S, OutputLease
from ..pipeline.run import check_writable, storage_environment
from ..pipeline.summary import RunSummary
from ..uri import check_scheme, join, redact
from ..views.page import write_page
from .churn import ImageChurn, churn_by_image, class_churn
from .page import churn_page
from .state import (STATE_DIR, changed_objects, clear_pending, list_lake, load_pending, load_state, save_pending,
                    save_state)

__all__ = ["relabel", "relabel_text"]


def _read_rows(output: str, image_ids: list[str]) -> pd.DataFrame:
    """Every row of `image_ids` in every partition under `output`."""
    import pyarrow.dataset as pds

    columns = ["image_id", "source_uri", "width", "height", "run", "boxes", "scores", "category_ids", "labels",
               "error"]
    table = open_dataset(output, partitioning="hive").to_table(columns=columns,
                                                               filter=pds.field("image_id").isin(image_ids))
    return table.to_pandas()


def _churn(output: str, partition_run: str, relabelled: list[str],
           min_score: float) -> tuple[list[ImageChurn], dict[str, tuple[str, int, int]]]:
    """Churn of the images labelled again in the partition `run=<partition_run>` against their
    latest labels in earlier partitions (error rows are no labels: left out on both sides), and
    the new rows' source, width and height by image id."""
    if not relabelled:
        return [], {}
    rows = _read_rows(output, relabelled)
    rows = rows[rows["error"].isna()]
    current = rows[rows["run"] == partition_run]
    earlier = rows[rows["run"] < partition_run].sort_values("run").drop_duplicates("image_id", keep="last")
    found = {i: (u, int(w), int(h)) for i, u, w, h in current[["image_id", "source_uri", "width", "height"]].itertuples(
        index=False)}
    return churn_by_image(earlier, current, min_score), found


def relabel(settings: dict[str, Any], lake: str, output: str, *, day: Date | None = None,
            churn_min_score: float = 0.5, address: str | None = None, dry_run: bool = False) -> RunSummary:
    """Label the lake's new and changed images; returns the inference run's summary, with a
    `relabel` entry (counts, partition, churn). `settings` are `PipelineConfig` arguments."""
    if not 0 <= churn_min_score <= 1:
        raise ConfigError(f"--churn-min-score must be in [0, 1], got {churn_min_score}")
    for what, uri in (("lake", lake), ("output", output)):
        check_scheme(uri, what)
    # The listing reads the lake before Ray starts.
    with storage_environment(settings.get("s3_endpoint")), contextlib.ExitStack() as held:
        return _relabel(settings, lake, output, day, churn_min_score, address, dry_run, held)


def _relabel(settings: dict[str, Any], lake: str, output: str, day: Date | None, churn_min_score: float,
             address: str | None, dry_run: bool, held: contextlib.ExitStack) -> RunSummary:
    started = time.perf_counter()
    check_writable(output)
    run_id = new_run_id()  # sorts by start time: the churn compares with earlier partitions
    if not dry_run:  # one run at a time reads and writes the state, until relabel returns
        held.enter_context(OutputLease(output, run_id, expiry_s=settings.get("lease_expiry", DEFAULT_EXPIRY_S),
                                       wait=settings.get("wait", False)))
    current, previous = list_lake(lake, exclude=(output,)), load_state(output)
    new, changed = changed_objects(current, previous)
    pending = load_pending(output)
    day = day or datetime.now(timezone.utc).date()
    # An unfinished run is finished in its own partition, whose checkpoint skips what it committed.
    where = pending or {"date": day.isoformat(), "run": run_id}
    partition_run, partition = where["run"], f"date={where['date']}/run={where['run']}"
    manifest = join(output, STATE_DIR, f"todo-{run_id}.txt")
    cfg = PipelineConfig(inputs=(manifest,), output=join(output, partition), format="manifest",
                         run_id=run_id, **settings)  # validates the settings, dry run or not
    info = {"lake": redact(lake), "partition": partition, "images_in_lake": len(current), "images_new": len(new),
            "images_changed": len(changed), "resumed": bool(pending), "state": f"{redact(output)}/{STATE_DIR}"}
    todo = new + changed
    if dry_run or not todo:
        summary = RunSummary(run_id=run_id, model=settings["model"], output=redact(output), images_total=0,
                             images_ok=0, images_failed=0, wall_seconds=round(time.perf_counter() - started, 3),
                             dry_run=dry_run, relabel={**info, "images_to_label": len(todo)})
        if not dry_run:
            save_state(output, current)  # nothing to label: the listing is the new state
            if pending:
                clear_pending(output)
        return summary

    import fsspec

    save_pending(output, where)
    with fsspec.open(manifest, "w") as f:
        f.write("\n".join(todo) + "\n")
    summary = run_inference(cfg, address=address)
    images, rows = _churn(output, partition_run, changed, churn_min_score)
    churn = class_churn(images)
    churn_uri = join(output, STATE_DIR, f"churn-{run_id}.csv")
    with fsspec.open(churn_uri, "w") as f:
        churn.to_csv(f, index=False)
    page, thumbnails = churn_page(images, rows, run_id, churn_min_score)
    page_uri = write_page(join(output, STATE_DIR, f"churn-{run_id}"), page, thumbnails)[-1]
    save_state(output, current)  # only now: a run that died before leaves the old state
    clear_pending(output)
    totals = {k: int(churn[k].sum()) for k in ("added", "removed", "changed", "kept")}
    return replace(summary, relabel={**info, "images_to_label": len(todo), "churn": redact(churn_uri),
                                     "churn_page": redact(page_uri), "churn_totals": totals})


def relabel_text(summary: RunSummary) -> str:
    """The run in a few lines, for people."""
    r = summary.relabel
    done = (f"dry run: {r['images_to_label']} to label, nothing was run" if summary.dry_run
            else f"{summary.images_total} labelled into {r['partition']}")
    text = (f"relabel {summary.run_id}: {r['images_in_lake']} images in {r['lake']}, {r['images_new']} new, "
            f"{r['images_changed']} changed{' (resumed)' if r['resumed'] else ''}; {done}")
    if "churn_totals" in r:
        t = r["churn_totals"]
        text += (f"\n  churn    {t['added']} added, {t['removed']} removed, {t['changed']} changed class, "
                 f"{t['kept']} kept  ({r['churn']}; page {r['churn_page']})")
    return text
