"""jobs/gallery.py over a job output whose sources are image files (an EXIF-orientation-6 JPEG and
a HEIC among them), a tar member, Parquet rows, a file that has vanished since, and an error row;
the page opened from disk in headless Chromium and read from its rendered DOM."""
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from effdet_batch.pipeline.decode import decode_image
from effdet_batch.pipeline.schema import detection_rows, error_rows
from jobs import gallery as gallery_cli
from tests.browser import BOXES_JS, opened
from tests.helpers import parquet_bytes, tar_bytes

NAMES = {1: "person", 2: "dog", 3: "cat", 4: "chair"}
MIN_SCORE = 0.4
RED = (230, 20, 20)


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def turned_photo(fmt: str, size: tuple[int, int]) -> bytes:
    """A photo displayed `size` (portrait) with its top-left corner red, stored a quarter turn
    away with orientation 6 (EXIF for the JPEG; pillow-heif writes it as HEIF's irot box)."""
    displayed = np.full((size[1], size[0], 3), (40, 90, 160), np.uint8)
    displayed[: size[1] // 4, : size[0] // 4] = RED
    stored = Image.fromarray(displayed).transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()  # the writer
    return encode(stored, fmt, exif=exif.tobytes(), quality=92)


def detections(rng: np.random.Generator, width: int, height: int) -> dict:
    """Boxes in the lower right of the image (the marked corner stays clear), scores on both
    sides of MIN_SCORE, descending."""
    scores = np.array(sorted([0.93, 0.71, MIN_SCORE, 0.39, 0.12], reverse=True), np.float32)
    x1 = rng.uniform(width * 0.5, width * 0.7, len(scores))
    y1 = rng.uniform(height * 0.5, height * 0.7, len(scores))
    boxes = np.stack([x1, y1, x1 + rng.uniform(5, width * 0.3, len(scores)),
                      y1 + rng.uniform(5, height * 0.3, len(scores))], axis=1).astype(np.float32)
    return {"boxes": boxes, "scores": scores, "classes": rng.choice(list(NAMES), len(scores)).astype(np.int32)}


@pytest.fixture(scope="module")
def job_output(tmp_path_factory, indoor85):
    """The sources, a job output over them (rows as the job writes them), and its gallery."""
    root = tmp_path_factory.mktemp("gallery")
    photos = [p.read_bytes() for p in sorted((indoor85 / "images").glob("*.jpg"))[:4]]
    src = root / "lake"
    src.mkdir()
    files = {"photo.jpg": photos[0], "turned.jpg": turned_photo("JPEG", (320, 480)),
             "phone.heic": turned_photo("HEIF", (160, 240)), "gone.jpg": photos[1]}
    for name, data in files.items():
        (src / name).write_bytes(data)
    (src / "shard.tar").write_bytes(tar_bytes({"a/member.jpg": photos[2]}))
    (src / "rows.parquet").write_bytes(parquet_bytes({"image": [photos[3], files["turned.jpg"]]}))
    images = {str(src / n): (str(src / n), d) for n, d in files.items()}
    images[f"{src}/shard.tar#a/member.jpg"] = (str(src / "shard.tar"), photos[2])
    images[f"{src}/rows.parquet#0"] = (str(src / "rows.parquet"), photos[3])
    images[f"{src}/rows.parquet#1"] = (str(src / "rows.parquet"), files["turned.jpg"])

    rng = np.random.default_rng(0)
    ids = sorted(images)
    sizes = [decode_image(images[i][1]).shape[1::-1] for i in ids]  # displayed, as the job writes them
    found = [detections(rng, *size) for size in sizes]
    out = root / "out"
    out.mkdir()
    table = detection_rows(ids, [images[i][0] for i in ids], sizes, found, NAMES, "d0", "ab" * 32, "r1")
    pq.write_table(table, out / "part-0.parquet")
    broken = str(src / "broken.jpg")
    pq.write_table(error_rows([broken], [broken], ["cannot decode image: broken data stream"], "d0", "ab" * 32, "r1"),
                   out / "part-1.parquet")
    (src / "gone.jpg").unlink()  # vanished after the run
    assert gallery_cli.main(["--predictions", str(out), "--output", str(root / "gallery"), "--sample", "20"]) == 0
    rows = {r["image_id"]: r for r in pq.read_table(out).to_pylist()}
    return root, rows, src


def _thumb_pixels(page, image_id: str) -> np.ndarray:
    png = page.locator(f'figure[data-image-id="{image_id}"] img').screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_every_drawn_box_is_a_detection_at_or_above_the_score_in_its_place(job_output, browser):
    root, rows, src = job_output
    with opened(browser, root / "gallery" / "index.html") as page:
        cards = {c["id"]: c for c in page.evaluate(BOXES_JS)}
        page.screenshot(path=str(root / "gallery.png"), full_page=True)
    processed = {i: r for i, r in rows.items() if r["error"] is None}
    assert sorted(cards) == sorted(processed)  # all seven sampled: the sample is larger
    for image_id, card in cards.items():
        row = processed[image_id]
        scale = card["width"] / row["width"]
        assert card["width"] == round(row["width"] * min(1, 320 / max(row["width"], row["height"])))
        assert card["height"] == pytest.approx(row["height"] * scale, abs=1)
        drawn = sorted((b["label"], b["score"], b["left"], b["top"], b["width"], b["height"])
                       for b in card["boxes"] if b["visible"])
        wanted = sorted((label, score, x1 * scale, y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
                        for (x1, y1, x2, y2), score, label in zip(row["boxes"], row["scores"], row["labels"])
                        if score >= MIN_SCORE)
        assert len(drawn) == len(wanted) == 3, image_id
        for got, want in zip(drawn, wanted):
            assert got[:2] == want[:2]
            assert np.abs(np.subtract(got[2:], want[2:])).max() <= 1, (image_id, got, want)
        assert len(card["boxes"]) == len(row["scores"])  # the lower ones are there, hidden
        assert card["loaded"] == (image_id != str(src / "gone.jpg"))


def test_turned_jpeg_and_heic_thumbnails_show_the_photo_as_displayed(job_output, browser):
    root, _, src = job_output
    with opened(browser, root / "gallery" / "index.html") as page:
        page.evaluate("document.querySelectorAll('.box').forEach(b => b.hidden = true)")
        for image_id in (str(src / "turned.jpg"), str(src / "phone.heic"), f"{src}/rows.parquet#1"):
            pixels = _thumb_pixels(page, image_id)
            height, width = pixels.shape[:2]
            assert height / width == pytest.approx(1.5, abs=0.02), image_id  # portrait, as displayed
            corner = pixels[2:height // 4 - 2, 2:width // 4 - 2].mean(axis=(0, 1))
            others = [pixels[2:height // 4 - 2, -width // 4 + 2:-2], pixels[-height // 4 + 2:-2, 2:width // 4 - 2]]
            assert np.abs(corner - RED).max() < 30, (image_id, corner)
            for part in others:
                assert np.abs(part.mean(axis=(0, 1)) - RED).max() > 100, image_id


def test_the_filters_in_the_page_choose_the_boxes(job_output, browser):
    root, rows, _ = job_output
    processed = [r for r in rows.values() if r["error"] is None]
    with opened(browser, root / "gallery" / "index.html") as page:
        page.select_option("#class-filter", "dog")
        visible = [b for c in page.evaluate(BOXES_JS) for b in c["boxes"] if b["visible"]]
        dogs = [s for r in processed for s, lbl in zip(r["scores"], r["labels"]) if lbl == "dog" and s >= MIN_SCORE]
        assert {b["label"] for b in visible} == {"dog"} and len(visible) == len(dogs) > 0
        page.select_option("#class-filter", "")
        page.eval_on_selector("#min-score", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
        visible = [b for c in page.evaluate(BOXES_JS) for b in c["boxes"] if b["visible"]]
        assert len(visible) == sum(len(r["scores"]) for r in processed)  # down to every kept detection


def test_vanished_sources_error_rows_and_counts_are_shown(job_output, browser):
    root, rows, src = job_output
    with opened(browser, root / "gallery" / "index.html") as page:
        gone = page.inner_text(f'figure[data-image-id="{src / "gone.jpg"}"] .unavailable')
        errors = page.eval_on_selector_all("#error-rows tbody tr", "rs => rs.map(r => r.innerText.split('\\t'))")
        counts = page.eval_on_selector_all("#class-counts tbody tr", "rs => rs.map(r => r.innerText.split('\\t'))")
    assert gone.startswith("source unavailable") and "gone.jpg" in gone
    assert errors == [[str(src / "broken.jpg"), "cannot decode image: broken data stream"]]
    wanted = {}
    for r in rows.values():
        for score, category, label in zip(r["scores"] or [], r["category_ids"] or [], r["labels"] or []):
            if score >= MIN_SCORE:
                entry = wanted.setdefault(label, [category, 0, set()])
                entry[1] += 1
                entry[2].add(r["image_id"])
    assert {c[0]: (int(c[1]), int(c[2]), int(c[3])) for c in counts} == {
        label: (category, n, len(images)) for label, (category, n, images) in wanted.items()}


def test_an_empty_output_gives_a_page_that_says_so(tmp_path, browser, capsys):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(detection_rows([], [], [], [], NAMES, "d0", "ab" * 32, "r1"), out / "part-0.parquet")
    assert gallery_cli.main(["--predictions", str(out), "--output", str(tmp_path / "gallery")]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["rows"] == 0
    with opened(browser, tmp_path / "gallery" / "index.html") as page:
        assert "This output is empty" in page.inner_text("body")
        assert page.evaluate(BOXES_JS) == []


def test_missing_predictions_are_one_line(tmp_path, capsys):
    assert gallery_cli.main(["--predictions", str(tmp_path / "nothing"), "--output", str(tmp_path / "g")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: predictions {tmp_path / 'nothing'} do not exist"
    assert not (tmp_path / "g").exists()
