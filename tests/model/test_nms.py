"""Batched NMS and soft-NMS against plain per-image, one-box-at-a-time references.

Hard NMS is checked on both paths: plain torch (always) and torchvision's kernel (where torchvision
imports, as on the GPU machine).
"""
import math
import sys

import pytest
import torch

from effdet_batch.model.nms import batched_nms, batched_soft_nms

nms_module = sys.modules["effdet_batch.model.nms"]


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


def _duplicates(batch, count, objects, num_classes, seed):
    """`count` jittered copies of a few objects: under 100 survive, so NMS reads all candidates."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, objects, 2, generator=gen) * 600
    wh = 30 + torch.rand(batch, objects, 2, generator=gen) * 60
    pick = torch.randint(0, objects, (batch, count), generator=gen)
    boxes = torch.cat([xy, xy + wh], 2).gather(1, pick.unsqueeze(2).expand(-1, -1, 4))
    classes = torch.randint(0, num_classes, (batch, objects), generator=gen).gather(1, pick)
    return boxes + torch.randn(batch, count, 4, generator=gen) * 1.5, classes


@pytest.fixture(params=["torch", "torchvision"])
def path(request, monkeypatch):
    """Which NMS `batched_nms` runs: plain torch, or torchvision's kernel (skipped without it)."""
    if request.param == "torch":
        monkeypatch.setattr(nms_module, "_torchvision_nms", lambda: None)
    else:
        torchvision = pytest.importorskip("torchvision")
        assert nms_module._torchvision_nms() is torchvision.ops.nms
    return request.param


def _assert_greedy(boxes, classes, limit, keep, valid):
    for b in range(len(boxes)):
        want = _greedy(boxes[b].tolist(), classes[b].tolist(), 0.5, limit)
        assert keep[b][valid[b]].tolist() == want
        assert not valid[b][len(want):].any()


@pytest.mark.parametrize("count,limit", [(300, 100), (2500, 40), (3000, 2000)])
def test_batched_nms_equals_greedy_per_image(path, count, limit):
    boxes, _, classes = _clustered(3, count, 4, seed=count)
    _assert_greedy(boxes, classes, limit, *batched_nms(boxes, classes, 0.5, limit))


def test_all_5000_candidates_read_when_few_survive(path):
    boxes, classes = _duplicates(2, 5000, 60, 1, seed=0)
    keep, valid = batched_nms(boxes, classes, 0.5, 100)
    assert (valid.sum(1) < 100).all()  # so every block, up to candidate 5,000, was solved
    _assert_greedy(boxes, classes, 100, keep, valid)


@pytest.mark.parametrize("block,group", [(64, 2), (100, 1), (37, 3)])
def test_block_and_group_boundaries_do_not_change_the_result(monkeypatch, block, group):
    # More survivors than a block, so earlier survivors are also read in several column chunks.
    monkeypatch.setattr(nms_module, "_torchvision_nms", lambda: None)
    monkeypatch.setattr(nms_module, "_BLOCK", block)
    monkeypatch.setattr(nms_module, "_GROUP", group)
    boxes, _, classes = _clustered(5, 700, 6, seed=block)
    keep, valid = batched_nms(boxes, classes, 0.5, 400)
    assert (valid.sum(1) > 2 * block).all()
    _assert_greedy(boxes, classes, 400, keep, valid)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")])])
def test_torchvision_and_plain_torch_agree_at_batch_16(monkeypatch, device):
    pytest.importorskip("torchvision")
    few, few_classes = _duplicates(8, 5000, 60, 90, seed=1)
    many, _, many_classes = _clustered(8, 5000, 90, seed=2)
    # Whole pixels make every area and intersection exact, in float32 as in torchvision's float64,
    # so each IoU is one correctly rounded division and both paths compare it alike. x4: photo-sized
    # coordinates, so that the class offsets are large.
    boxes = torch.cat([few, many * 4]).round().to(device)
    classes = torch.cat([few_classes, many_classes]).to(device)
    fast = batched_nms(boxes, classes, 0.5, 100)
    monkeypatch.setattr(nms_module, "_torchvision_nms", lambda: None)
    plain = batched_nms(boxes, classes, 0.5, 100)
    assert torch.equal(fast[0], plain[0]) and torch.equal(fast[1], plain[1])


def test_degenerate_boxes_neither_suppress_nor_are_suppressed(path):
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
