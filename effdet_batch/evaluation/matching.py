"""Per-image matching, as pycocotools' COCOeval made it: read from its `evalImgs` at IoU 0.5,
area `all` and the largest maxDets (100), so the counts are COCOeval's own. A ground-truth box is
matched or missed; a crowd (COCOeval's ignored) is neither. A detection is matched or false, or
ignored where COCOeval matched it to a crowd. Only the detections COCOeval kept (the top maxDets
per class and image) are counted."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MATCH_IOU", "Drawn", "ImageMatch", "image_matches", "unmatched_images"]

MATCH_IOU = 0.5


@dataclass(frozen=True)
class Drawn:
    """A box of the matching: x, y, w, h in pixels, `status` matched/missed/false/ignored."""

    bbox: tuple[float, float, float, float]
    category_id: int
    status: str
    score: float | None = None  # None for ground truth


@dataclass
class ImageMatch:
    """One ground-truth image: its counts and boxes; `row_id`/`source_uri`: the prediction row
    matched to it (None when it has none)."""

    gt_image_id: int
    file_name: str
    size: tuple[int, int] | None
    row_id: str | None = None
    source_uri: str | None = None
    ground_truth: list[Drawn] = field(default_factory=list)
    detections: list[Drawn] = field(default_factory=list)

    def count(self, status: str) -> int:
        """matched (detections), missed (ground truth) or false (detections)."""
        boxes = self.ground_truth if status == "missed" else self.detections
        return sum(b.status == status for b in boxes)


def _new_images(gt: dict[str, Any], rows: dict[int, tuple[str, str]]) -> dict[int, ImageMatch]:
    out = {}
    for image in gt["images"]:
        size = (int(image["width"]), int(image["height"])) if image.get("width") and image.get("height") else None
        row_id, source = rows.get(int(image["id"]), (None, None))
        out[int(image["id"])] = ImageMatch(int(image["id"]), str(image["file_name"]), size, row_id, source)
    return out


def image_matches(evaluator, gt: dict[str, Any], rows: dict[int, tuple[str, str]]) -> list[ImageMatch]:
    """Each ground-truth image's matching from an evaluated `COCOeval`; `rows`: ground-truth image
    id -> (row image_id, source_uri) of the processed rows."""
    images = _new_images(gt, rows)
    p = evaluator.params
    t = [round(float(v), 2) for v in p.iouThrs].index(MATCH_IOU)
    area = p.areaRngLbl.index("all")
    n_images, n_areas = len(p.imgIds), len(p.areaRng)
    for k, category in enumerate(p.catIds):
        for i, image_id in enumerate(p.imgIds):
            e = evaluator.evalImgs[(k * n_areas + area) * n_images + i]
            if e is None:
                continue
            image = images[int(image_id)]
            for g, gt_id in enumerate(e["gtIds"]):
                status = "ignored" if e["gtIgnore"][g] else "matched" if e["gtMatches"][t][g] > 0 else "missed"
                image.ground_truth.append(Drawn(tuple(evaluator.cocoGt.anns[gt_id]["bbox"]), int(category), status))
            for d, dt_id in enumerate(e["dtIds"]):
                status = "ignored" if e["dtIgnore"][t][d] else "matched" if e["dtMatches"][t][d] > 0 else "false"
                ann = evaluator.cocoDt.anns[dt_id]
                image.detections.append(Drawn(tuple(ann["bbox"]), int(category), status, float(ann["score"])))
    return list(images.values())


def unmatched_images(gt: dict[str, Any], rows: dict[int, tuple[str, str]]) -> list[ImageMatch]:
    """The matching when there is no detection at all: every box missed (crowds ignored)."""
    images = _new_images(gt, rows)
    for ann in gt["annotations"]:
        status = "ignored" if ann.get("iscrowd") else "missed"
        images[int(ann["image_id"])].ground_truth.append(
            Drawn(tuple(float(v) for v in ann["bbox"]), int(ann["category_id"]), status))
    return list(images.values())
