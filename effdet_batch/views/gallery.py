"""The gallery of a job's output: a static page of a stratified sample of its images with their
detections drawn over them, the counts per class, and the error rows with their reasons."""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..uri import check_scheme, redact
from .overlay import Box, card
from .page import document, filter_controls, table, write_page
from .sample import ERRORS_KEPT, ClassChoice, OutputScan, read_rows, scan_output
from .thumbnails import make_thumbnails, read_options

__all__ = ["DEFAULT_MIN_SCORE", "detection_boxes", "write_gallery"]

DEFAULT_MIN_SCORE = 0.4


def detection_boxes(row: dict[str, Any], kind: str = "pred", classes: ClassChoice | None = None) -> list[Box]:
    """The row's detections as boxes (of `classes` only, when given)."""
    return [Box(*map(float, box), label=str(label), kind=kind, score=float(score))
            for box, score, category, label in zip(row["boxes"] or [], row["scores"] or [], row["category_ids"] or [],
                                                   row["labels"] or [])
            if classes is None or classes.accepts(category, label)]


def _body(predictions: str, scan: OutputScan, cards: list[str], labels: set[str], min_score: float,
          classes: ClassChoice | None, seed: int) -> str:
    which = f" of {', '.join(classes.wanted)}" if classes else ""
    facts = (f"<p>{scan.rows:,} rows in <code>{html.escape(redact(predictions))}</code>: "
             f"{scan.rows - scan.rows_error:,} images processed, {scan.rows_error:,} error rows. "
             f"{len(cards)} images sampled{html.escape(which)} (stratified by class at score &ge; {min_score:g}, "
             f"seed {seed}).</p>")
    if not scan.rows:
        return facts + '<p class="empty">This output is empty: it has no rows.</p>'
    parts = [facts]
    missing = classes.missing(scan.classes.values()) if classes else []
    if missing:
        parts.append(f'<p class="empty">No detection at score &ge; {min_score:g} of: '
                     f"{html.escape(', '.join(missing))}.</p>")
    counts = sorted(scan.classes.values(), key=lambda c: (-c.detections, c.category_id))
    parts.append(f"<h2>Detections per class (score &ge; {min_score:g}, whole output)</h2>")
    parts.append(table(["class", "id", "detections", "images"],
                       [(c.label, c.category_id, c.detections, c.images) for c in counts], "class-counts"))
    if not classes:
        parts.append(f"<p>{scan.images_without:,} processed images have no detection at score &ge; "
                     f"{min_score:g}.</p>")
    parts.append("<h2>Sample</h2>")
    if cards:
        parts += [filter_controls(labels, min_score), f'<div class="cards">{"".join(cards)}</div>']
    else:
        parts.append('<p class="empty">No processed image to show.</p>')
    if scan.errors:
        more = f" (the first {ERRORS_KEPT:,} of {scan.rows_error:,})" if scan.rows_error > len(scan.errors) else ""
        parts.append(f"<h2>Error rows{more}</h2>")
        parts.append(table(["image", "reason"], scan.errors, "error-rows"))
    return "\n".join(parts)


def write_gallery(predictions: str, output: str, *, sample: int = 48, classes: Sequence[str] = (),
                  min_score: float = DEFAULT_MIN_SCORE, seed: int = 0) -> dict[str, Any]:
    """Write the gallery of the job output `predictions` to `output` (a folder or URI): index.html
    and its thumbnails. Returns what it shows."""
    import fsspec

    for what, uri in (("predictions", predictions), ("output", output)):
        check_scheme(uri, what)
    fs, root = fsspec.core.url_to_fs(predictions)
    if not fs.exists(root):
        raise InputError(f"predictions {redact(predictions)} do not exist")
    choice = ClassChoice(tuple(classes)) if classes else None
    scan = scan_output(predictions, sample, min_score, choice, seed)
    rows = sorted(read_rows(predictions, scan.sample).to_pylist(), key=lambda r: r["image_id"])
    thumbs = make_thumbnails([(r["image_id"], r["source_uri"]) for r in rows], read_options(predictions))
    cards, labels = [], set()
    for row in rows:
        boxes = detection_boxes(row, classes=choice)
        labels |= {b.label for b in boxes}
        shown = int(np.sum([b.score >= min_score for b in boxes]))
        cards.append(card(row["image_id"], (row["width"], row["height"]), thumbs[row["image_id"]], boxes,
                          [redact(row["image_id"]), f"{shown} of {len(boxes)} detections at score >= {min_score:g}"]))
    files = {t.name: t.data for t in thumbs.values() if not isinstance(t, str)}
    page = document("Detections gallery", _body(predictions, scan, cards, labels, min_score, choice, seed))
    written = write_page(output, page, files)
    return {"page": redact(written[-1]), "rows": scan.rows, "rows_error": scan.rows_error, "sampled": len(rows),
            "sources_unavailable": sum(isinstance(t, str) for t in thumbs.values()),
            "classes": len(scan.classes)}
