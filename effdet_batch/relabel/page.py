"""A nightly run's churn as a page: the images whose labels changed most, the earlier labels beside
the new ones over the image as it is now, each box styled by its outcome (kept, changed, removed,
added), from the same pairing as the per-class counts."""
from __future__ import annotations

import html

from ..pipeline.readers import ReadOptions
from ..views.overlay import Box, card
from ..views.page import document, filter_controls, table
from ..views.thumbnails import Thumbnail, make_thumbnails
from .churn import Detections, ImageChurn, class_churn

__all__ = ["MOST_CHANGED", "churn_page"]

MOST_CHANGED = 24
_LEGEND = ('<p class="legend"><span>green: kept</span><span>purple: changed class</span>'
           "<span>red: removed</span><span>orange: added</span></p>")


def _boxes(side: Detections) -> list[Box]:
    return [Box(*map(float, b), label=str(label), kind=outcome, score=float(score))
            for b, label, score, outcome in zip(side.boxes, side.labels, side.scores, side.outcome)]


def _pair(image: ImageChurn, size: tuple[int, int], picture: Thumbnail | str) -> str:
    counts = ", ".join(f"{o} {image.count(o)}" for o in ("added", "removed", "changed", "kept"))
    before = card(image.image_id, size, picture, _boxes(image.old), ["before", counts])
    after = card(image.image_id, size, picture, _boxes(image.new), ["now", image.image_id])
    return (f'<div class="side" data-image-id="{html.escape(image.image_id, quote=True)}">'
            f'<div class="before">{before}</div><div class="after">{after}</div></div>')


def churn_page(images: list[ImageChurn], rows: dict[str, tuple[str, int, int]], run_id: str, min_score: float,
               options: ReadOptions = ReadOptions()) -> tuple[str, dict[str, bytes]]:
    """The page's HTML and its thumbnails (relative name -> bytes); `rows`: image id -> (source
    URI, width, height) of this run's rows."""
    changed = sorted((i for i in images if i.changes), key=lambda i: (-i.changes, i.image_id))[:MOST_CHANGED]
    pictures = make_thumbnails([(i.image_id, rows[i.image_id][0]) for i in changed], options)
    per_class = class_churn(images)
    parts = [f"<p>{len(images)} images labelled again, compared at score &ge; {min_score:g}; "
             f"{sum(1 for i in images if i.changes)} have labels that changed. Each image is shown as it is now, "
             "with its earlier labels on the left and this run's on the right.</p>",
             "<h2>Per class</h2>", table(list(per_class.columns), per_class.itertuples(index=False), "churn-classes")]
    if changed:
        parts += [f"<h2>The images that changed most (top {MOST_CHANGED})</h2>", _LEGEND,
                  filter_controls({str(b) for i in changed for b in (*i.old.labels, *i.new.labels)}, min_score),
                  '<div class="cards">' + "".join(_pair(i, rows[i.image_id][1:], pictures[i.image_id])
                                                  for i in changed) + "</div>"]
    else:
        parts.append('<p class="empty">No image\'s labels changed.</p>')
    files = {t.name: t.data for t in pictures.values() if isinstance(t, Thumbnail)}
    return document(f"Relabel churn: run {run_id}", "\n".join(parts)), files
