"""Label Studio pre-annotations: one task per image with the detector's boxes as a prediction,
and the labeling config whose names the predictions refer to.

Format: https://labelstud.io/guide/predictions (boxes in percent of the image's width and height,
`original_width`/`original_height` in pixels; the boxes are of the displayed image, so no rotation).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .rows import ExportRows

__all__ = ["FROM_NAME", "TO_NAME", "label_studio_tasks", "labeling_config"]

# The control's and the image's names: the tasks' from_name/to_name and the config's name/toName.
FROM_NAME, TO_NAME = "label", "image"
_DATA_KEY = "image"  # the task's data field holding the image URL: the config's $image


def _relative_paths(image_ids: Sequence[str]) -> list[str]:
    """Each image's path under the folder all the image files share; for tar members and Parquet
    rows (`<shard URI>#<key>`), the key."""
    folders = [i.rsplit("/", 1)[0].split("/") for i in image_ids if "#" not in i]
    common = 0
    while folders and all(len(f) > common and f[common] == folders[0][common] for f in folders):
        common += 1
    return [i.rsplit("#", 1)[1] if "#" in i else "/".join(i.split("/")[common:]) for i in image_ids]


def _region(index: str, box, score: float, label: str, width: int, height: int) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"id": index, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "rectanglelabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": 100 * x1 / width, "y": 100 * y1 / height, "width": 100 * (x2 - x1) / width,
                      "height": 100 * (y2 - y1) / height, "rotation": 0, "rectanglelabels": [label]},
            "score": float(score)}


def label_studio_tasks(data: ExportRows, url_prefix: str | None = None) -> list[dict[str, Any]]:
    """One task per processed row. The image URL is the source image's URI, or with `url_prefix`
    that prefix (as written) followed by `_relative_paths`' path, URL-quoted. The prediction's
    `model_version` is `<model>@<weights sha256>`, its `score` the mean of its boxes' (0 without)."""
    rows = data.rows
    ids = rows["image_id"].tolist()
    urls = ids if url_prefix is None else [url_prefix + quote(p) for p in _relative_paths(ids)]
    tasks = []
    for n, (url, width, height, boxes, scores, labels, model, sha) in enumerate(
            zip(urls, rows["width"], rows["height"], rows["boxes"], rows["scores"], rows["labels"], rows["model"],
                rows["weights_sha256"])):
        # Label Studio wants result ids distinct from every other element's.
        result = [_region(f"{n}-{k}", box, score, label, int(width), int(height))
                  for k, (box, score, label) in enumerate(zip(boxes, scores, labels))]
        score = float(scores.mean()) if len(scores) else 0.0
        tasks.append({"data": {_DATA_KEY: url},
                      "predictions": [{"model_version": f"{model}@{sha}", "score": score, "result": result}]})
    return tasks


def labeling_config(names: Sequence[str]) -> str:
    """The labeling config XML: the image and a RectangleLabels control with one label per
    distinct name, in order."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=TO_NAME, value=f"${_DATA_KEY}")
    control = ET.SubElement(view, "RectangleLabels", name=FROM_NAME, toName=TO_NAME)
    for name in dict.fromkeys(names):
        ET.SubElement(control, "Label", value=name)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"
