"""jobs/evaluate.py's index.html on indoor85 (sources in loopback S3: files and tar members),
opened in headless Chromium: every drawn image's matched, missed and false boxes are those of
pycocotools' own per-image matching (evalImgs at IoU 0.5, area all, maxDets 100, crowds
ignored), computed here from the Parquet."""
import contextlib
import io
import json
import posixpath
from collections import Counter

import pyarrow.parquet as pq
import pytest

from effdet_batch.evaluation.page import WORST_SHOWN
from jobs import evaluate as evaluate_cli
from tests.browser import BOXES_JS, opened
from tests.export.job_output import SHARD, image_uri, run_manifest, write_job_output
from tests.helpers import tar_bytes

CROWDS = 6  # annotations turned into crowds, which COCOeval neither matches nor misses


def _evalimgs_counts(instances: dict, rows: list[dict]) -> dict[str, Counter]:
    """file name -> Counter(matched, missed, false), from COCOeval.evalImgs of the rows' boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = {i["file_name"]: i["id"] for i in instances["images"]}
    results = [{"image_id": ids[posixpath.basename(r["image_id"])], "category_id": c, "score": s,
                "bbox": [x1, y1, x2 - x1, y2 - y1]}
               for r in rows if r["error"] is None and posixpath.basename(r["image_id"]) in ids
               for (x1, y1, x2, y2), s, c in zip(r["boxes"], r["scores"], r["category_ids"])]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = instances
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]  # only area all
        evaluator.evaluate()
    assert evaluator.params.maxDets[-1] == 100 and evaluator.params.iouThrs[0] == 0.5
    names = {i["id"]: i["file_name"] for i in instances["images"]}
    counts = {name: Counter() for name in names.values()}
    for e in evaluator.evalImgs:
        if e is None:
            continue
        c = counts[names[e["image_id"]]]
        for g, ignored in enumerate(e["gtIgnore"]):
            c["missed"] += not ignored and e["gtMatches"][0][g] == 0
        for d, ignored in enumerate(e["dtIgnore"][0]):
            c["matched"] += not ignored and e["dtMatches"][0][d] > 0
            c["false"] += not ignored and e["dtMatches"][0][d] == 0
    return counts


@pytest.fixture(scope="module")
def evaluated(indoor85, tmp_path_factory, s3_env):
    import s3fs

    root = tmp_path_factory.mktemp("evalpage")
    instances = json.loads((indoor85 / "instances.json").read_text())
    for ann in instances["annotations"][:CROWDS]:
        ann["iscrowd"] = 1
    (root / "instances.json").write_text(json.dumps(instances))
    detections = json.loads((indoor85 / "detections.json").read_text())
    write_job_output(root / "pred", instances, detections, run_manifest(instances))
    s3 = s3fs.S3FileSystem(endpoint_url=s3_env)
    s3.mkdir("lake")
    members = {}
    for index, image in enumerate(instances["images"]):
        data = (indoor85 / "images" / image["file_name"]).read_bytes()
        uri = image_uri(index, image["file_name"])
        if uri.startswith(SHARD):
            members[uri.split("#", 1)[1]] = data
        else:
            s3.pipe(uri, data)
    s3.pipe(SHARD, tar_bytes(members))
    assert evaluate_cli.main(["--predictions", str(root / "pred"), "--annotations", str(root / "instances.json"),
                              "--output", str(root / "eval")]) == 0
    yield root, instances, pq.read_table(root / "pred").to_pylist()
    s3.rm("lake", recursive=True)  # the S3 server is the session's: other modules make their own lake


def _cards(page, section: str) -> list[dict]:
    by_id = {c["id"]: c for c in page.evaluate(BOXES_JS)}
    ids = page.eval_on_selector_all(f"#{section} figure.card", "cs => cs.map(c => c.dataset.imageId)")
    return [by_id[i] for i in ids]


def test_drawn_matching_is_pycocotools_own(evaluated, browser):
    root, instances, rows = evaluated
    want = _evalimgs_counts(instances, rows)
    with opened(browser, root / "eval" / "index.html") as page:
        sections = {s: _cards(page, s) for s in ("most-missed", "most-false")}
        chart = page.eval_on_selector("img[src='precision_recall.png']", "i => i.naturalWidth")
        per_class = page.eval_on_selector_all("#per-class tbody tr", "rs => rs.length")
        page.screenshot(path=str(root / "evaluation.png"), full_page=True)
    assert chart > 400 and per_class == len(instances["categories"])
    for section, status in (("most-missed", "missed"), ("most-false", "false")):
        cards = sections[section]
        assert len(cards) == WORST_SHOWN
        for card in cards:
            assert card["loaded"], card["id"]  # thumbnails from the S3 files and tar members
            kinds = Counter(b["kind"].split(" ", 1)[1] for b in card["boxes"])
            drawn = {"matched": kinds["pred matched"], "missed": kinds["gt missed"], "false": kinds["pred false"]}
            assert drawn == {k: want[posixpath.basename(card["id"])][k] for k in drawn}, card["id"]
            assert kinds["gt matched"] == kinds["pred matched"]
        # The images with the most, in order: the top of pycocotools' own counts.
        assert [want[posixpath.basename(c["id"])][status] for c in cards] == \
            sorted((c[status] for c in want.values()), reverse=True)[:WORST_SHOWN]
    assert any("ignored" in b["kind"] for s in sections.values() for c in s for b in c["boxes"])  # a crowd drawn
