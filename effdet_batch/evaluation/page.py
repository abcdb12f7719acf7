"""The evaluation as a page (index.html beside metrics.json): the statistics, the per-class table,
the precision-recall chart, and the images with the most missed and the most false detections,
ground truth and predictions drawn by how COCOeval matched them at IoU 0.5."""
from __future__ import annotations

import math
from typing import Any

from ..views.overlay import Box, card
from ..views.page import document, filter_controls, table
from ..views.thumbnails import Thumbnail, make_thumbnails
from .coco import STAT_NAMES, EvalResult
from .matching import Drawn, ImageMatch

__all__ = ["WORST_SHOWN", "evaluation_page"]

WORST_SHOWN = 12  # images per section
_LEGEND = ('<p class="legend">At IoU 0.5: <span>ground truth dashed: green matched, orange missed</span>'
           "<span>predictions solid: green matched, red false</span><span>grey: crowd (ignored)</span></p>")


def _box(drawn: Drawn, names: dict[int, str], truth: bool) -> Box:
    x, y, w, h = drawn.bbox
    kind = f"{'gt' if truth else 'pred'} {drawn.status}"
    return Box(x, y, x + w, y + h, names.get(drawn.category_id, str(drawn.category_id)), kind, drawn.score)


def _size(image: ImageMatch, picture: Thumbnail | str) -> tuple[int, int]:
    """The ground truth's size of the image, else its thumbnail's, else the boxes' extent."""
    if image.size:
        return image.size
    if isinstance(picture, Thumbnail):
        return picture.size
    boxes = image.ground_truth + image.detections
    return (max([math.ceil(b.bbox[0] + b.bbox[2]) for b in boxes], default=1),
            max([math.ceil(b.bbox[1] + b.bbox[3]) for b in boxes], default=1))


def _card(image: ImageMatch, pictures: dict[str, Thumbnail | str], names: dict[int, str]) -> str:
    picture = pictures.get(image.row_id, "no prediction row for this image") if image.row_id else \
        "no prediction row for this image"
    boxes = [_box(b, names, True) for b in image.ground_truth] + [_box(b, names, False) for b in image.detections]
    counts = " · ".join(f"{s} {image.count(s)}" for s in ("matched", "missed", "false"))
    return card(image.row_id or image.file_name, _size(image, picture), picture, boxes, [image.file_name, counts])


def _section(title: str, images: list[ImageMatch], pictures: dict[str, Thumbnail | str], names: dict[int, str],
             section_id: str) -> str:
    cards = "".join(_card(i, pictures, names) for i in images)
    body = f'<div class="cards">{cards}</div>' if images else "<p>None.</p>"
    return f'<section id="{section_id}"><h2>{title}</h2>{body}</section>'


def _cell(value: Any) -> Any:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def evaluation_page(result: EvalResult, metrics: dict[str, Any], title: str, chart: str,
                    options) -> tuple[str, dict[str, bytes]]:
    """The page's HTML and its thumbnails (relative name -> bytes). `chart`: the PR chart's file
    name beside the page; `options`: how to read the rows' Parquet shards (`read_options`)."""
    worst = {status: sorted((i for i in result.images if i.count(status)),
                            key=lambda i: (-i.count(status), i.file_name))[:WORST_SHOWN]
             for status in ("missed", "false")}
    shown = {i.gt_image_id: i for images in worst.values() for i in images if i.row_id}
    pictures = make_thumbnails([(i.row_id, i.source_uri) for i in shown.values()], options)
    names = {int(c): str(n) for c, n in zip(result.per_class["category_id"], result.per_class["name"])}
    stats = table(["statistic", "value"], [(k, round(float(metrics[k]), 4)) for k in STAT_NAMES], "metrics")
    count_keys = ("images_gt", "images_evaluated", "images_missed", "rows", "rows_not_in_gt", "rows_error",
                  "detections", "annotations")
    counts = table(["count", "value"], [(k, int(metrics[k])) for k in count_keys], "counts")
    per_class = table(["category_id", "name", "gt_count", "AP", "AP50"],
                      [[_cell(v) for v in row] for row in result.per_class.round(4).itertuples(index=False)],
                      "per-class")
    labels = set(names.values())
    body = "\n".join([
        f"<h2>Metrics</h2>{stats}{counts}",
        f'<h2>Precision and recall</h2><img src="{chart}" alt="precision-recall chart" width="720">',
        f"<h2>Per class</h2>{per_class}",
        _LEGEND, filter_controls(labels, 0.0),
        _section(f"Most missed ground truth (top {WORST_SHOWN})", worst["missed"], pictures, names, "most-missed"),
        _section(f"Most false detections (top {WORST_SHOWN})", worst["false"], pictures, names, "most-false"),
    ])
    files = {t.name: t.data for t in pictures.values() if isinstance(t, Thumbnail)}
    return document(f"Evaluation: {title}", body), files
