import torch

from effdet_batch.model.anchors import generate_anchors
from effdet_batch.model.box_coder import decode_boxes
from effdet_batch.model.config import DETECTORS


def test_anchor_count_order_and_sizes():
    spec = DETECTORS["d0"]
    anchors = generate_anchors(spec)
    assert anchors.shape == (9 * sum((512 // 2**l) ** 2 for l in range(3, 8)), 4)
    # First P3 cell (center 4, 4): octave 0, aspect (1, 1) -> side 4 * 8 = 32.
    assert anchors[0].tolist() == [-12.0, -12.0, 20.0, 20.0]
    # Anchor 1 of the cell: aspect (1.4, 0.7) -> 44.8 x 22.4.
    assert torch.allclose(anchors[1], torch.tensor([4 - 22.4, 4 - 11.2, 4 + 22.4, 4 + 11.2]))
    # Anchor 3: octave 1 -> side 32 * 2^(1/3).
    side = 32 * 2 ** (1 / 3)
    assert torch.allclose(anchors[3], torch.tensor([4 - side / 2, 4 - side / 2, 4 + side / 2, 4 + side / 2]))
    # Next location moves along x first (row-major): center (12, 4).
    assert anchors[9].tolist() == [-4.0, -12.0, 28.0, 20.0]
    # Last anchor: P7 (stride 128), last cell center 448, octave 2, aspect (0.7, 1.4).
    base = 4 * 128 * 2 ** (2 / 3)
    last = torch.tensor([448 - base * 0.35, 448 - base * 0.7, 448 + base * 0.35, 448 + base * 0.7])
    assert torch.allclose(anchors[-1], last)


def test_d7_uses_anchor_scale_5_and_d7x_an_eighth_level():
    assert (generate_anchors(DETECTORS["d7"])[0, 2] - generate_anchors(DETECTORS["d7"])[0, 0]).item() == 40.0
    d7x = generate_anchors(DETECTORS["d7x"])
    assert d7x.shape[0] == 9 * sum((1536 // 2**l) ** 2 for l in range(3, 9))


def test_decode_zero_deltas_gives_the_anchors_and_shifts_scale():
    anchors = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert torch.equal(decode_boxes(torch.zeros(1, 4), anchors), anchors)
    # ty=0.5 moves y by half the height (40), tw=log 2 doubles the width (20 -> 40).
    moved = decode_boxes(torch.tensor([[0.5, 0.0, 0.0, torch.log(torch.tensor(2.0))]]), anchors)
    assert torch.allclose(moved, torch.tensor([[0.0, 40.0, 40.0, 80.0]]))
    assert decode_boxes(torch.zeros(1, 4, dtype=torch.bfloat16), anchors).dtype == torch.float32
