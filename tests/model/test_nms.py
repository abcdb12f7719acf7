"""Batched NMS and soft-NMS against plain per-image, one-box-at-a-time references."""
import math

import pytest
import torch

from effdet_batch.model.nms import batched_nms, batched_soft_nms


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float("nan")


def _greedy(boxes, classes, thr, limit):
    kept = []
    for i in range(len(boxes)):
        if not any(classes[j] == classes[i] and _iou(boxes[j], boxes[i]) > thr for j in kept):
            kept.append(i)
    return kept[:limit]


def _soft(boxes, scores, classes, limit, sigma=0.5, threshold=0.001):
    scores = list(scores)
    alive = [s > threshold for s in scores]
    picks = []
    while len(picks) < limit and any(alive):
        best = max((i for i in range(len(scores)) if alive[i]), key=lambda i: scores[i])
        picks.append((best, scores[best]))
        alive[best] = False
        for i in range(len(scores)):
            if alive[i] and classes[i] == classes[best]:
                scores[i] *= math.exp(-(_iou(boxes[best], boxes[i]) ** 2) / sigma)
                alive[i] = scores[i] > threshold
    return picks


def _clustered(batch, count, num_classes, seed):
    """Boxes in a few tight clusters, so that NMS has long chains of overlaps to resolve."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.rand(batch, 8, 2, generator=gen) * 400
    pick = torch.randint(0, 8, (batch, count), generator=gen)
    xy = centers.gather(1, pick.unsqueeze(2).expand(-1, -1, 2)) + torch.randn(batch, count, 2, generator=gen) * 6
    wh = 20 + torch.rand(batch, count, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + wh], 2)
    scores = torch.rand(batch, count, generator=gen).sort(1, descending=True).values
    classes = torch.randint(0, num_classes, (batch, count), generator=gen)
    return boxes, scores, classes


@pytest.mark.parametrize("count,limit", [(300, 100), (2500, 40), (3000, 2000)])
def test_batched_nms_equals_greedy_per_image(count, limit):
    boxes, _, classes = _clustered(3, count, 4, seed=count)
    keep, valid = batched_nms(boxes, classes, 0.5, limit)
    for b in range(3):
        want = _greedy(boxes[b].tolist(), classes[b].tolist(), 0.5, limit)
        assert keep[b][valid[b]].tolist() == want


def test_degenerate_boxes_neither_suppress_nor_are_suppressed():
    boxes = torch.tensor([[[0, 0, 10, 10], [5, 5, 5, 9], [5, 5, 5, 9], [0, 0, 10, 10.5]]], dtype=torch.float32)
    keep, valid = batched_nms(boxes, torch.zeros(1, 4, dtype=torch.long), 0.5, 10)
    assert keep[0][valid[0]].tolist() == [0, 1, 2]


def test_batched_soft_nms_equals_sequential_reference():
    boxes, scores, classes = _clustered(2, 200, 3, seed=7)
    keep, soft_scores, valid = batched_soft_nms(boxes, scores, classes, 50)
    for b in range(2):
        want = _soft(boxes[b].tolist(), scores[b].tolist(), classes[b].tolist(), 50)
        assert keep[b][valid[b]].tolist() == [i for i, _ in want]
        assert soft_scores[b][valid[b]].tolist() == pytest.approx([s for _, s in want], rel=1e-5)
