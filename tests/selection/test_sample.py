"""The fixed sample: images of the input that have ground truth, chosen by seed, written as a
manifest and the ground truth of exactly those images, and reused (or refused) on a rerun."""
import json

import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.selection.sample import draw_sample, fix_sample


def _gt(names):
    images = [{"id": i, "file_name": n, "width": 8, "height": 8} for i, n in enumerate(names, 1)]
    annotations = [{"id": i, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 0}
                   for i in range(1, len(names) + 1)]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}


def test_draw_is_seeded_among_the_matched_images_and_cuts_the_ground_truth():
    gt = _gt([f"{i:02d}.jpg" for i in range(20)])
    images = [f"/lake/{i:02d}.jpg" for i in range(30)]  # 10 of them have no ground truth
    chosen, subset, matched = draw_sample(images, gt, 5, seed=3)
    assert matched == 20 and len(chosen) == 5 and chosen == sorted(chosen)
    assert all(int(u[-6:-4]) < 20 for u in chosen)
    assert draw_sample(images, gt, 5, seed=3)[0] == chosen  # the same seed, the same sample
    assert any(draw_sample(images, gt, 5, seed=s)[0] != chosen for s in range(4, 8))
    names = sorted(u.rsplit("/", 1)[1] for u in chosen)
    assert sorted(i["file_name"] for i in subset["images"]) == names
    ids = {i["id"] for i in subset["images"]}
    assert {a["image_id"] for a in subset["annotations"]} == ids and len(subset["annotations"]) == 5
    assert subset["categories"] == gt["categories"]
    # Fewer matched than asked for: all of them.
    assert draw_sample(images, gt, 50, seed=0)[0] == sorted(images[:20])


def test_draw_refuses_no_match_and_two_images_of_one_ground_truth_image():
    gt = _gt(["a.jpg"])
    with pytest.raises(ConfigError, match="none of the input's 1 images is in the ground truth"):
        draw_sample(["/x/b.jpg"], gt, 1, 0)
    with pytest.raises(ConfigError, match="match the same ground-truth image by basename: use --match path"):
        draw_sample(["/x/a.jpg", "/y/a.jpg"], gt, 1, 0)


def test_sample_written_once_reused_and_refused_when_asked_otherwise(tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    for i in range(6):
        (src / f"{i}.jpg").write_bytes(b"not decoded here")
    (src / "notes.txt").write_text("skipped")
    gt = _gt([f"{i}.jpg" for i in range(6)])
    out = str(tmp_path / "sel")
    sample, kept = fix_sample(out, (str(src),), "gt.json", gt, 4, seed=1)
    assert not kept and len(sample.images) == 4 and sample.matched == 6
    lines = [line for line in (tmp_path / "sel/sample/images.txt").read_text().splitlines()
             if not line.startswith("#")]
    assert lines == list(sample.images) and all(u.startswith(str(src)) for u in lines)
    written = json.loads((tmp_path / "sel/sample/instances.json").read_text())
    assert sorted(i["file_name"] for i in written["images"]) == sorted(u.rsplit("/", 1)[1] for u in lines)

    (src / "6.jpg").write_bytes(b"new")  # the input grew: the sample is fixed
    again, kept = fix_sample(out, (str(src),), "gt.json", _gt([f"{i}.jpg" for i in range(7)]), 4, seed=1)
    assert kept and again == sample
    with pytest.raises(ConfigError, match="holds a sample drawn with --sample 4 --seed 1"):
        fix_sample(out, (str(src),), "gt.json", gt, 4, seed=2)


def test_shards_without_image_uris_are_refused(tmp_path):
    (tmp_path / "a.tar").write_bytes(b"")
    with pytest.raises(ConfigError, match="tar shards have none: give image files or manifests"):
        fix_sample(str(tmp_path / "sel"), (str(tmp_path),), "gt.json", _gt(["a.jpg"]), 1, 0)
