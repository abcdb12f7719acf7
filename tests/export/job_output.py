"""A job output written without Ray: indoor85's detections in the job's schema, some images as
files and some as tar members, an error row, a row of an image the ground truth lacks, and a run
manifest with the label set."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from effdet_batch.pipeline.schema import detection_rows, error_rows

MODEL, SHA = "d0", "ab" * 32
SHARD = "s3://lake/shards/part-0.tar"


def image_uri(index: int, file_name: str) -> str:
    """Even images are files (one folder deeper for every fourth), odd ones tar members."""
    if index % 2:
        return f"{SHARD}#photos/{file_name}"
    return f"s3://lake/indoor/{'deep/' if index % 4 == 0 else ''}{file_name}"


def write_job_output(folder: Path, instances: dict, detections: list, manifest: dict | None = None) -> dict:
    """Writes the output to `folder`; returns image id -> (width, height, boxes x1y1x2y2, scores,
    category ids, labels) of each processed row, as the Parquet holds them."""
    by_image = defaultdict(list)
    for d in detections:
        by_image[d["image_id"]].append(d)
    names = {c["id"]: c["name"] for c in instances["categories"]}
    ids, sizes, dets = [], [], []
    for index, image in enumerate(instances["images"]):
        found = sorted(by_image[image["id"]], key=lambda d: -d["score"])
        ids.append(image_uri(index, image["file_name"]))
        sizes.append((image["width"], image["height"]))
        dets.append({"boxes": np.array([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in found)],
                                       np.float32).reshape(-1, 4),
                     "scores": np.array([d["score"] for d in found], np.float32),
                     "classes": np.array([d["category_id"] for d in found], np.int32)})
    stray = "s3://lake/other/not-in-gt.jpg"
    table = pa.concat_tables([
        detection_rows(ids, [i.split("#")[0] for i in ids], sizes, dets, names, MODEL, SHA, "r1"),
        detection_rows([stray], [stray], [(10, 10)], [dets[0]], names, MODEL, SHA, "r1"),
        error_rows(["s3://lake/indoor/broken.jpg"], ["s3://lake/indoor/broken.jpg"],
                   ["cannot decode image: broken data stream"], MODEL, SHA, "r1"),
    ])
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    if manifest is not None:
        (folder / "_manifest-r1.json").write_text(json.dumps(manifest))
    rows = pq.read_table(folder).to_pylist()
    return {r["image_id"]: (r["width"], r["height"], np.array(r["boxes"]).reshape(-1, 4), r["scores"],
                            r["category_ids"], r["labels"]) for r in rows if r["error"] is None}


def run_manifest(instances: dict) -> dict:
    """A manifest as the job writes it, of a run with the ground truth's label set."""
    categories = [{"id": c["id"], "name": c["name"]} for c in instances["categories"]]
    return {"run_id": "r1", "model": MODEL, "weights": "official",
            "labels": {"source": "labels.json", "sha256": "cd" * 32, "num_classes": len(categories),
                       "categories": categories}}
