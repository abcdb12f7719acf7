"""Agreement with the reference implementation (effdet 0.4.1) on its seeded checkpoints: D0, Lite0
(ReLU6, no SE, plain-sum BiFPN, 320 px), D0 AdvProp (mean = std = 0.5, fill 0) and a D0 fine-tuned
to 3 classes, saved as effdet's train.py saves a run (its EMA weights are the ones compared)."""
import json

import numpy as np
import pytest
import torch

from effdet_batch.model import Detector, create_model, get_spec, letterbox, postprocess
from effdet_batch.model.preprocess import normalize
from tests.conftest import read_rgb

PARITY_SETS = {  # set -> (folder, file stem of expected/head outputs, checkpoint)
    "d0": ("parity_d0", "d0_seed0", "tf_efficientdet_d0_seed0.pth"),
    "lite0": ("parity_lite0", "lite0_seed0", "tf_efficientdet_lite0_seed0.pth"),
    "d0_ap": ("parity_d0_ap", "d0_ap_seed0", "tf_efficientdet_d0_ap_seed0.pth"),
    "custom": ("parity_custom", "d0_seed0", "d0_3class_seed0_train.pth.tar"),
}


@pytest.fixture(scope="module", params=list(PARITY_SETS))
def case(request, shared, indoor85):
    folder, stem, checkpoint = PARITY_SETS[request.param]
    root = shared / "reference" / folder
    expected = json.loads((root / f"expected_{stem}.json").read_text())
    name = expected.get("model", "d0")
    spec = get_spec(name)
    images = [read_rgb(indoor85 / "images" / name) for name in expected["images"]]
    boxed = [letterbox(image, spec.image_size, spec.pretrained.fill) for image in images]
    x = normalize(torch.from_numpy(np.stack([c for c, _ in boxed])), spec.pretrained.mean, spec.pretrained.std)
    return {
        "name": name, "expected": {"num_classes": 90, **expected}, "checkpoint": str(root / checkpoint),
        "head_outputs": root / f"head_outputs_{stem}.npz", "images": images, "boxed": boxed, "x": x,
    }


def test_letterbox_and_normalisation_reproduce_the_reference_input(case):
    exp = case["expected"]
    assert [[im.shape[1], im.shape[0]] for im in case["images"]] == exp["image_sizes_wh"]
    assert [1 / s for _, s in case["boxed"]] == pytest.approx(exp["img_scale"])
    x = case["x"]
    assert list(x.shape) == exp["input"]["shape"]
    assert x.double().sum().item() == pytest.approx(exp["input"]["sum"], rel=1e-9)
    assert x.double().abs().sum().item() == pytest.approx(exp["input"]["abs_sum"], rel=1e-9)


def test_detector_preprocess_is_the_reference_input(case):
    detector = Detector(case["name"], checkpoint="random", device="cpu", num_classes=case["expected"]["num_classes"])
    x, scales, sizes = detector.preprocess(case["images"])
    assert x.dtype == torch.float32 and torch.equal(x, case["x"])
    assert [1 / s for s in scales] == pytest.approx(case["expected"]["img_scale"])
    assert sizes.tolist() == case["expected"]["image_sizes_wh"]


def _assert_heads_match(outputs, exp):
    class_out, box_out = outputs
    for key, levels in (("class_outputs", class_out), ("box_outputs", box_out)):
        for level, (out, ref) in enumerate(zip(levels, exp[key], strict=True)):
            assert list(out.shape) == ref["shape"], (key, level)
            got = out.float().reshape(-1)[torch.tensor(ref["sample_index"])].double().numpy()
            want = np.array(ref["sample_value"])
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{key}[{level}]")
            assert out.double().sum().item() == pytest.approx(ref["sum"], rel=1e-5)


def test_plain_model_reproduces_reference_head_outputs(case):
    model = create_model(case["name"], checkpoint=case["checkpoint"])
    assert model.num_classes == case["expected"]["num_classes"]
    with torch.inference_mode():
        _assert_heads_match(model(case["x"]), case["expected"])


def test_optimised_model_reproduces_reference_head_outputs(case):
    """BN folded, channels-last, fp32 on CPU: what Detector runs."""
    detector = Detector(case["name"], checkpoint=case["checkpoint"], device="cpu", precision="fp32")
    assert detector.num_classes == case["expected"]["num_classes"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in detector.model.modules())
    with torch.inference_mode():
        _assert_heads_match(detector.forward(case["x"]), case["expected"])


def test_postprocess_reproduces_reference_detections(case):
    npz = np.load(case["head_outputs"])
    levels = get_spec(case["name"]).num_levels
    class_out = [torch.from_numpy(npz[f"class_{i}"]) for i in range(levels)]
    box_out = [torch.from_numpy(npz[f"box_{i}"]) for i in range(levels)]
    scale = 1 / float(npz["img_scale"].reshape(-1)[0])  # the reference stores original / resized
    (got,) = postprocess(class_out, box_out, case["name"], [scale], npz["img_size_wh"].reshape(-1, 2).tolist())
    want = np.array(case["expected"]["detections_from_head_outputs_npz"][0])
    want = want[want[:, 4] > 0]  # drop the zero padding
    # Rows with zero width or height may be dropped on either side (the reference's own note).
    keep = (want[:, 2] > want[:, 0]) & (want[:, 3] > want[:, 1])
    got_keep = (got["boxes"][:, 2] > got["boxes"][:, 0]) & (got["boxes"][:, 3] > got["boxes"][:, 1])
    want, got = want[keep], {k: v[got_keep] for k, v in got.items()}
    assert len(got["scores"]) == len(want) > 0
    np.testing.assert_allclose(got["scores"], want[:, 4], atol=1e-5)
    np.testing.assert_array_equal(got["classes"], want[:, 5].astype(np.int32))
    np.testing.assert_allclose(got["boxes"], want[:, :4], atol=1e-3)
    assert got["boxes"].dtype == np.float32 and got["classes"].dtype == np.int32
    assert got["classes"].min() >= 1 and got["classes"].max() <= case["expected"]["num_classes"]
