"""Every variant builds exactly the public checkpoint layout, size and cost."""
import json

import pytest

from effdet_batch.model import create_model, model_info
from effdet_batch.model.config import DETECTORS


def _layout(shared, name):
    rows = (shared / f"reference/checkpoint_layout/tf_efficientdet_{name}.tsv").read_text().splitlines()[1:]
    table = {}
    for row in rows:
        key, shape, _ = row.split("\t")
        table[key] = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
    return table


@pytest.mark.parametrize("name", list(DETECTORS))
def test_random_model_has_the_public_layout_params_and_macs(shared, name):
    layout = shared / "reference/checkpoint_layout"
    variants = {**json.loads((layout / "variants.json").read_text()),
                **json.loads((layout / "family.json").read_text())}
    model = create_model(name, checkpoint="random")
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert state == _layout(shared, name)
    assert sum(p.numel() for p in model.parameters()) == variants[name]["params"]
    info = model_info(name)
    assert info["params"] == variants[name]["params"]
    assert abs(info["macs"] / variants[name]["macs"] - 1) < 0.02
    assert info["image_size"] == variants[name]["image_size"][0]
    assert not model.training


def test_random_weights_are_seeded():
    a, b = create_model("d0", "random"), create_model("d0", "random")
    assert a.weights.sha256 == b.weights.sha256
    assert a.weights.source == "random(seed=0)"


def test_model_info_describes_the_head_it_is_given():
    custom = model_info("d3", num_classes=12)
    assert custom["num_classes"] == 12 and custom["published_coco_ap"] is None
    assert custom["params"] == sum(p.numel() for p in create_model("d3", "random", num_classes=12).parameters())
    assert custom["params"] < model_info("d3")["params"] and custom["macs"] < model_info("d3")["macs"]
    assert model_info("d3")["published_coco_ap"] == 46.8
    lite = model_info("lite0")
    assert (lite["act"], lite["mean"], lite["fill"]) == ("relu6", [0.5] * 3, [128] * 3)
