"""Agreement with the reference implementation (effdet 0.4.1) on its seeded D0 checkpoint."""
import numpy as np
import pytest
import torch

from effdet_batch.model import Detector, create_model, letterbox, postprocess
from effdet_batch.model.preprocess import normalize
from tests.conftest import read_rgb


@pytest.fixture(scope="module")
def inputs(parity, indoor85):
    exp = parity["expected"]
    images = [read_rgb(indoor85 / "images" / name) for name in exp["images"]]
    boxed = [letterbox(image, 512) for image in images]
    return images, boxed, normalize(torch.from_numpy(np.stack([c for c, _ in boxed])))


def test_letterbox_and_normalisation_reproduce_the_reference_input(parity, inputs):
    images, boxed, x = inputs
    exp = parity["expected"]
    assert [[im.shape[1], im.shape[0]] for im in images] == exp["image_sizes_wh"]
    assert [1 / s for _, s in boxed] == pytest.approx(exp["img_scale"])
    assert list(x.shape) == exp["input"]["shape"]
    assert x.double().sum().item() == pytest.approx(exp["input"]["sum"], rel=1e-9)
    assert x.double().abs().sum().item() == pytest.approx(exp["input"]["abs_sum"], rel=1e-9)


def _assert_heads_match(outputs, exp):
    class_out, box_out = outputs
    for key, levels in (("class_outputs", class_out), ("box_outputs", box_out)):
        for level, (out, ref) in enumerate(zip(levels, exp[key], strict=True)):
            assert list(out.shape) == ref["shape"], (key, level)
            got = out.float().reshape(-1)[torch.tensor(ref["sample_index"])].double().numpy()
            want = np.array(ref["sample_value"])
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{key}[{level}]")
            assert out.double().sum().item() == pytest.approx(ref["sum"], rel=1e-5)


def test_plain_model_reproduces_reference_head_outputs(parity, inputs):
    model = create_model("d0", checkpoint=str(parity["checkpoint"]))
    with torch.inference_mode():
        _assert_heads_match(model(inputs[2]), parity["expected"])


def test_optimised_model_reproduces_reference_head_outputs(parity, inputs):
    """BN folded, channels-last, fp32 on CPU: what Detector runs."""
    detector = Detector("d0", checkpoint=str(parity["checkpoint"]), device="cpu", precision="fp32")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in detector.model.modules())
    with torch.inference_mode():
        _assert_heads_match(detector.model(inputs[2]), parity["expected"])


def test_postprocess_reproduces_reference_detections(parity):
    npz = np.load(parity["head_outputs"])
    class_out = [torch.from_numpy(npz[f"class_{i}"]) for i in range(5)]
    box_out = [torch.from_numpy(npz[f"box_{i}"]) for i in range(5)]
    scale = 1 / float(npz["img_scale"].reshape(-1)[0])  # the reference stores original / resized
    (got,) = postprocess(class_out, box_out, "d0", [scale], npz["img_size_wh"].reshape(-1, 2).tolist())
    want = np.array(parity["expected"]["detections_from_head_outputs_npz"][0])
    want = want[want[:, 4] > 0]  # drop the zero padding
    assert len(got["scores"]) == len(want) == 100
    np.testing.assert_allclose(got["scores"], want[:, 4], atol=1e-5)
    np.testing.assert_array_equal(got["classes"], want[:, 5].astype(np.int32))
    np.testing.assert_allclose(got["boxes"], want[:, :4], atol=1e-3)
    assert got["boxes"].dtype == np.float32 and got["classes"].dtype == np.int32
