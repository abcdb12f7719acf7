"""Label churn on a constructed case: every outcome once, per class."""
import pandas as pd

from effdet_batch.relabel import churn_by_class


def _row(image_id, detections, error=None):
    """detections: (category_id, label, [x1, y1, x2, y2], score)."""
    return {"image_id": image_id, "boxes": [d[2] for d in detections], "scores": [d[3] for d in detections],
            "category_ids": [d[0] for d in detections], "labels": [d[1] for d in detections], "error": error}


def test_added_removed_changed_and_kept_per_class():
    previous = pd.DataFrame([
        _row("a.jpg", [(1, "person", [0, 0, 100, 100], 0.9),     # moves a little: kept
                       (62, "chair", [200, 0, 300, 100], 0.8),   # same place, now a couch: changed
                       (44, "bottle", [400, 0, 420, 60], 0.7),   # gone: removed
                       (1, "person", [0, 200, 50, 300], 0.3)]),  # under the score: not compared
        _row("b.jpg", [(1, "person", [0, 0, 10, 10], 0.9)]),     # not labelled again: not compared
    ])
    current = pd.DataFrame([
        _row("a.jpg", [(1, "person", [5, 5, 105, 105], 0.95),
                       (63, "couch", [205, 0, 300, 100], 0.9),
                       (44, "bottle", [600, 0, 620, 60], 0.8),   # a bottle elsewhere: added (no overlap)
                       (1, "person", [0, 200, 50, 300], 0.2)]),
        _row("new.jpg", [(1, "person", [0, 0, 10, 10], 0.9)]),   # no earlier labels: not churn
    ])
    churn = churn_by_class(previous, current, min_score=0.5).set_index("category_id")
    assert list(churn.index) == [1, 44, 62]
    assert churn.loc[1, ["label", "added", "removed", "changed", "kept"]].tolist() == ["person", 0, 0, 0, 1]
    assert churn.loc[44, ["added", "removed", "changed", "kept"]].tolist() == [1, 1, 0, 0]
    assert churn.loc[62, ["label", "added", "removed", "changed", "kept"]].tolist() == ["chair", 0, 0, 1, 0]

    # With every detection compared, the low-score person is kept too.
    assert churn_by_class(previous, current, min_score=0.0).set_index("category_id").loc[1, "kept"] == 2


def test_one_box_pairs_with_one_box():
    previous = pd.DataFrame([_row("a.jpg", [(1, "person", [0, 0, 100, 100], 0.9)])])
    current = pd.DataFrame([_row("a.jpg", [(1, "person", [0, 0, 100, 100], 0.9),
                                           (1, "person", [2, 2, 100, 100], 0.8)])])
    churn = churn_by_class(previous, current).set_index("category_id")
    assert churn.loc[1, ["added", "removed", "changed", "kept"]].tolist() == [1, 0, 0, 1]


def test_empty_boxes_overlap_nothing_in_churn_as_in_nms():
    """One IoU for the whole product: two identical zero-area boxes overlap nothing, so churn does not
    pair them (one removed, one added) and NMS does not let one suppress the other."""
    import torch

    from effdet_batch.model.nms import batched_nms, pairwise_iou

    empty = [50, 50, 50, 80]  # zero width
    previous = pd.DataFrame([_row("a.jpg", [(1, "person", empty, 0.9)])])
    current = pd.DataFrame([_row("a.jpg", [(1, "person", empty, 0.9)])])
    churn = churn_by_class(previous, current).set_index("category_id")
    assert churn.loc[1, ["added", "removed", "changed", "kept"]].tolist() == [1, 1, 0, 0]

    boxes = torch.tensor([[empty, empty]], dtype=torch.float32)
    assert not (pairwise_iou(boxes, boxes) >= 0.5).any()
    _, valid = batched_nms(boxes, torch.ones(1, 2, dtype=torch.long), iou_threshold=0.5, max_detections=10)
    assert valid.sum().item() == 2
