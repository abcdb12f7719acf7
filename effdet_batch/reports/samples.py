"""The report's sample images: the same few images under every model, side by side, each with that
model's detections over one thumbnail. The images are a stratified sample of the first model's
output (the gallery's), kept where every model's output has processed them."""
from __future__ import annotations

import html
from collections.abc import Sequence

from ..pipeline.summary import RunSummary
from ..views.gallery import DEFAULT_MIN_SCORE, detection_boxes
from ..views.overlay import card
from ..views.page import assets, filter_controls
from ..views.sample import read_rows, scan_output
from ..views.thumbnails import Thumbnail, make_thumbnails, read_options
from .table import Candidate, display_name

__all__ = ["SAMPLE_IMAGES", "sample_section"]

SAMPLE_IMAGES = 6


def _outputs(runs: Sequence[RunSummary], models: Sequence[str]) -> dict[str, str]:
    """The job output of each of `models` (a report's candidate names) that has a run with images:
    its latest run's."""
    found: dict[str, str] = {}
    for run in sorted((r for r in runs if r.output and r.images_total), key=lambda r: r.run_id):
        found[Candidate.of(run).name] = str(run.output)
    return {m: found[m] for m in models if m in found}


def sample_section(runs: Sequence[RunSummary], models: Sequence[str], count: int = SAMPLE_IMAGES,
                   seed: int = 0) -> tuple[str, dict[str, bytes]]:
    """The section's HTML (empty when fewer than two models have outputs) and its thumbnails."""
    outputs = _outputs(runs, models)
    if len(outputs) < 2:
        return "", {}
    first = next(iter(outputs.values()))
    candidates = scan_output(first, count * 4, DEFAULT_MIN_SCORE, seed=seed).sample
    rows: dict[str, dict[str, dict]] = {}
    for model, output in outputs.items():
        processed = [r for r in read_rows(output, candidates).to_pylist() if r["error"] is None]
        rows[model] = {r["image_id"]: r for r in processed}
    common = [i for i in candidates if all(i in by_id for by_id in rows.values())][:count]
    if not common:
        return '<h2>Sample images</h2><p>No image was processed by every model.</p>', {}
    first_rows = rows[next(iter(outputs))]
    pictures = make_thumbnails([(i, first_rows[i]["source_uri"]) for i in common], read_options(first))
    head = "".join(f"<th>{html.escape(display_name(m))}</th>" for m in outputs)
    lines = []
    for image_id in common:
        cells = "".join(
            f'<td class="sample" data-model="{html.escape(m, quote=True)}">'
            + card(image_id, (by_id[image_id]["width"], by_id[image_id]["height"]), pictures[image_id],
                   detection_boxes(by_id[image_id]), [display_name(m)]) + "</td>"
            for m, by_id in rows.items())
        lines.append(f'<tr data-image-id="{html.escape(image_id, quote=True)}">{cells}</tr>')
    labels = {b.label for by_id in rows.values() for i in common for b in detection_boxes(by_id[i])}
    section = (f'<section id="samples"><h2>The same {len(common)} images under each model</h2>'
               f"{filter_controls(labels, DEFAULT_MIN_SCORE)}<table><thead><tr>{head}</tr></thead>"
               f"<tbody>{''.join(lines)}</tbody></table></section>{assets()}")
    return section, {t.name: t.data for t in pictures.values() if isinstance(t, Thumbnail)}
