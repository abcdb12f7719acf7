import numpy as np
import pytest
import torch

from effdet_batch.errors import ConfigError
from effdet_batch.model import Detector, letterbox, postprocess
from effdet_batch.model.preprocess import normalize
from tests.helpers import assert_same_detections


@pytest.fixture(scope="module")
def detector(parity):
    return Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu")


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["classes"], y["classes"])
        np.testing.assert_allclose(x["scores"], y["scores"], atol=1e-5)
        np.testing.assert_allclose(x["boxes"], y["boxes"], atol=1e-3)


def test_predict_equals_letterbox_model_postprocess_by_hand(detector, photos):
    fill, mean, std = detector.fill, detector.spec.pretrained.mean, detector.spec.pretrained.std
    boxed = [letterbox(p, 512, fill) for p in photos]
    x = normalize(torch.from_numpy(np.stack([c for c, _ in boxed])), mean, std)
    with torch.inference_mode():
        class_out, box_out = detector.model(x)
    by_hand = postprocess(class_out, box_out, "d0", [s for _, s in boxed],
                          [(p.shape[1], p.shape[0]) for p in photos])
    _same(detector.predict(photos), by_hand)


def test_predictions_do_not_depend_on_batch_composition(detector, photos):
    # The seeded checkpoint scores thousands of anchors within 1e-7 of each other, so which of them
    # survive NMS can follow the ~1e-6 rounding of batched convolutions; what must not change is
    # the network's output per image and, from equal outputs, the detections.
    x, scales, sizes = detector.preprocess(photos[:3])
    together = detector.forward(x)
    for i in range(3):
        alone = detector.forward(x[i:i + 1])
        for levels_together, levels_alone in zip(together, alone):
            for t, a in zip(levels_together, levels_alone):
                torch.testing.assert_close(t[i:i + 1], a, rtol=0, atol=1e-4)
    batched = postprocess(*together, "d0", scales, sizes)
    for i in range(3):
        single = postprocess([o[i:i + 1] for o in together[0]], [o[i:i + 1] for o in together[1]], "d0",
                             scales[i:i + 1], sizes[i:i + 1])[0]
        for key in ("boxes", "scores", "classes"):
            np.testing.assert_array_equal(batched[i][key], single[key])


def test_detections_are_in_original_pixels_and_clipped(detector, photos):
    image = photos[0][:300, :200]  # a portrait crop: height-limited letterbox
    (det,) = detector.predict([image])
    assert det["boxes"].shape == (100, 4) and det["boxes"].dtype == np.float32
    assert (det["boxes"][:, [0, 2]] <= 200).all() and (det["boxes"][:, [1, 3]] <= 300).all()
    assert (det["boxes"] >= 0).all()
    assert np.all(np.diff(det["scores"]) <= 0)
    assert det["classes"].min() >= 1 and det["classes"].max() <= 90


def test_letterbox_keeps_aspect_and_fills_with_the_mean_colour(photos):
    fill = (124, 116, 104)  # the D models' ImageNet mean
    canvas, scale = letterbox(photos[0], 512, fill)  # 640x480 -> 512x384
    assert canvas.shape == (512, 512, 3) and canvas.dtype == np.uint8 and scale == 0.8
    assert (canvas[384:] == fill).all()
    small, s = letterbox(np.zeros((10, 20, 3), np.uint8), 512, (0, 0, 0))
    assert s == 25.6 and (small[:256] == 0).all() and (small[256:] == 0).all()
    grey, _ = letterbox(np.zeros((10, 20, 3), np.uint8) + 255, 320, (128, 128, 128))  # Lite's fill
    assert (grey[:160] == 255).all() and (grey[160:] == 128).all()
    with pytest.raises(ValueError, match="uint8 RGB"):
        letterbox(np.zeros((10, 10), np.uint8), 512, fill)


def test_max_detections_and_soft_nms(parity, photos):
    hard = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu", max_detections=10)
    soft = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu", max_detections=10, soft_nms=True)
    (h,), (s,) = hard.predict(photos[:1]), soft.predict(photos[:1])
    assert len(h["scores"]) == len(s["scores"]) == 10
    assert s["scores"][0] == pytest.approx(h["scores"][0])  # the first pick is never decayed
    assert np.all(np.diff(s["scores"]) <= 1e-7)


def test_predict_of_nothing_and_bad_settings(detector):
    assert detector.predict([]) == []
    with pytest.raises(ConfigError, match="precision"):
        Detector("d0", checkpoint="random", device="cpu", precision="fp8")
    with pytest.raises(ConfigError, match="device"):
        Detector("d0", checkpoint="random", device="tpu")
    with pytest.raises(ConfigError, match="max_detections"):
        Detector("d0", checkpoint="random", device="cpu", max_detections=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        Detector("d0", checkpoint="random", device="cuda")


def _detect_concurrently(detector, batches):
    """`detect` on each batch from threads of their own, all started together."""
    import threading

    barrier, results = threading.Barrier(len(batches)), [None] * len(batches)

    def call(i):
        canvases, scales, sizes = batches[i]
        barrier.wait()
        results[i] = detector.detect(canvases, scales, sizes)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _letterboxed(photos, size):
    boxed = [letterbox(p, size, (124, 116, 104)) for p in photos]
    return (np.stack([c for c, _ in boxed]), [s for _, s in boxed], [(p.shape[1], p.shape[0]) for p in photos])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")])])
def test_concurrent_calls_give_the_detections_of_serial_calls(parity, photos, device):
    # The pipeline's GPU actors take two batches at once (each thread on its own CUDA stream).
    detector = Detector("d0", checkpoint=str(parity["checkpoint"]), device=device, precision="fp32")
    batches = [_letterboxed(photos[i:i + 2], 512) for i in (0, 2)]
    serial = [detector.detect(*b) for b in batches]
    for concurrent, alone in zip(_detect_concurrently(detector, batches), serial):
        for a, b in zip(concurrent, alone):
            assert_same_detections(a, b)
