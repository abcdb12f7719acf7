import json

import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.model.config import BACKBONES, DETECTORS, get_spec, paper_scaling, round_channels


def _published(shared):
    """The 21 variants: D0-D7x (variants.json), Lite and AdvProp (family.json)."""
    layout = shared / "reference/checkpoint_layout"
    d = json.loads((layout / "variants.json").read_text())
    family = json.loads((layout / "family.json").read_text())
    return d, family


def test_every_variant_matches_the_published_table(shared):
    d, family = _published(shared)
    assert set(DETECTORS) == set(d) | set(family) and len(DETECTORS) == 21
    for name, v in {**d, **family}.items():
        spec = DETECTORS[name]
        assert [spec.image_size] * 2 == v["image_size"]
        assert spec.backbone_spec.name == v["backbone"]
        assert (spec.fpn_channels, spec.fpn_repeats, spec.head_repeats) == (
            v["fpn_channels"], v["fpn_cell_repeats"], v["box_class_repeats"])
        assert spec.fusion == {"bifpn_fa": "fast_normalized", "bifpn_sum": "sum"}[v["fpn_name"]]
        assert (spec.min_level, spec.max_level) == (v["min_level"], v["max_level"])
        assert (spec.anchor_scale, spec.num_scales, spec.pretrained.num_classes) == (
            v["anchor_scale"], v["num_scales"], v["num_classes"])
        assert [list(a) for a in spec.aspect_ratios] == v["aspect_ratios"]
        assert spec.checkpoint_url == v["checkpoint_url"]
        assert spec.act == v.get("act_type", "swish")


def test_weights_facts_of_the_family_match_the_published_ones(shared):
    d, family = _published(shared)
    imagenet_fill = [124, 116, 104]  # round(255 * ImageNet mean), the D models' letterbox fill
    for name in d:
        pretrained = DETECTORS[name].pretrained
        assert (list(pretrained.mean), list(pretrained.std), list(pretrained.fill)) == (
            [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], imagenet_fill)
    for name, v in family.items():
        pretrained = DETECTORS[name].pretrained
        assert (list(pretrained.mean), list(pretrained.std), list(pretrained.fill)) == (
            v["mean"], v["std"], v["fill_color"]), name
        assert pretrained.coco_ap == v["coco_val2017_ap"]["tf_official"], name
        assert pretrained.file_name == v["checkpoint_url"].rsplit("/", 1)[1]


def test_paper_formulas_hold_where_the_published_models_do_not_depart():
    # Head repeats follow 3 + floor(phi/3) everywhere; cells follow 3 + phi up to D4.
    for phi, name in enumerate(["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"]):
        formula, spec = paper_scaling(phi), DETECTORS[name]
        assert spec.head_repeats == formula["head_repeats"]
        # Published widths round 64 * 1.35^phi (within 6%), except D7, which caps it at 384.
        assert abs(spec.fpn_channels / formula["fpn_channels"] - 1) < 0.06 or phi == 7
        if phi <= 4:
            assert (spec.fpn_repeats, spec.image_size, spec.backbone) == (
                formula["fpn_repeats"], formula["image_size"], formula["backbone"])


@pytest.mark.parametrize("alias", ["d3", "D3", "efficientdet-d3", "tf_efficientdet_d3", " d3 "])
def test_name_aliases(alias):
    assert get_spec(alias) is DETECTORS["d3"]


@pytest.mark.parametrize(("alias", "name"), [("tf_efficientdet_lite3x", "lite3x"), ("EfficientDet-Lite0", "lite0"),
                                             ("tf_efficientdet_d2_ap", "d2_ap")])
def test_family_names_and_their_tf_names(alias, name):
    assert get_spec(alias) is DETECTORS[name]


@pytest.mark.parametrize("bad", ["d8", "resnet50", "", "tf_efficientdet_d9"])
def test_unknown_name_is_one_clear_line(bad):
    with pytest.raises(ConfigError) as err:
        get_spec(bad)
    message = str(err.value)
    assert "\n" not in message and repr(bad) in message and "d7x" in message


def test_compound_scaling_of_the_backbones():
    # B0 unscaled; B4 (width 1.4, depth 1.8): stem 48, stage repeats ceil(r * 1.8), channels x1.4 /8.
    assert [s.repeats for s in BACKBONES["b0"].stages] == [1, 2, 2, 3, 3, 4, 1]
    assert BACKBONES["b0"].feature_channels == (40, 112, 320)
    b4 = BACKBONES["b4"]
    assert b4.stem_channels == 48
    assert [s.repeats for s in b4.stages] == [2, 4, 4, 6, 6, 8, 2]
    assert b4.feature_channels == (56, 160, 448)
    assert round_channels(35.2) == 32 and round_channels(38.4) == 40


def test_lite_backbones_keep_stem_and_end_stages_and_drop_squeeze_excitation():
    # Lite4 has B4's coefficients, but its stem stays 32 wide and its first and last stages 1 deep.
    lite4 = BACKBONES["lite4"]
    assert lite4.stem_channels == 32 and BACKBONES["b4"].stem_channels == 48
    assert [s.repeats for s in lite4.stages] == [1, 4, 4, 6, 6, 8, 1]
    assert lite4.feature_channels == BACKBONES["b4"].feature_channels
    assert all(s.se_ratio == 0 for s in lite4.stages) and lite4.act == "relu6"


def test_feature_sizes_round_up_where_the_input_does_not_divide():
    # Lite0's 320 px: P7 is 3x3 (320 -> ... -> 5 -> 3 with TF SAME padding), as the reference.
    assert DETECTORS["lite0"].feature_sizes == (40, 20, 10, 5, 3)
    assert DETECTORS["d0"].feature_sizes == (64, 32, 16, 8, 4)
