"""Mixed precision against fp32.

Tolerances (stated in the README): with bf16 autocast on CPU the head outputs stay within 0.05 of
fp32 for class logits and 0.01 for box regressions; bf16 itself rounds a logit near -4.6 by up to
0.016, so this is about three bf16 steps. fp16/bf16 on CUDA are held to the same bounds when a GPU
is present.
"""
import numpy as np
import pytest
import torch

from effdet_batch.model import Detector

CLASS_TOL, BOX_TOL = 0.05, 0.01


def _max_errors(detector, photos, dtype):
    x, _, _ = detector.preprocess(photos)
    with torch.inference_mode():
        ref = detector.model(x)
        with torch.autocast(detector.device.type, dtype=dtype):
            low = detector.model(x)
    return [max((a.float() - b.float()).abs().max().item() for a, b in zip(r, l)) for r, l in zip(ref, low)]


def test_bf16_autocast_on_cpu_stays_within_tolerance(parity, photos):
    detector = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu")
    class_err, box_err = _max_errors(detector, photos[:2], torch.bfloat16)
    assert 0 < class_err <= CLASS_TOL  # > 0: bf16 really ran
    assert 0 < box_err <= BOX_TOL


def test_bf16_detector_detections_track_fp32(parity, photos):
    fp32 = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu", precision="fp32")
    bf16 = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu", precision="bf16")
    for a, b in zip(fp32.predict(photos[:2]), bf16.predict(photos[:2])):
        assert np.abs(a["scores"] - b["scores"]).max() < 0.25 * CLASS_TOL  # sigmoid slope <= 1/4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_stays_within_tolerance(parity, photos, dtype):
    detector = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cuda", precision="fp32")
    class_err, box_err = _max_errors(detector, photos[:2], dtype)
    assert class_err <= CLASS_TOL and box_err <= BOX_TOL
