import json

import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.model.config import BACKBONES, DETECTORS, get_spec, paper_scaling, round_channels


def test_every_variant_matches_the_published_table(shared):
    variants = json.loads((shared / "reference/checkpoint_layout/variants.json").read_text())
    assert set(variants) == set(DETECTORS)
    for name, v in variants.items():
        spec = DETECTORS[name]
        assert [spec.image_size] * 2 == v["image_size"]
        assert spec.backbone_spec.name == v["backbone"]
        assert (spec.fpn_channels, spec.fpn_repeats, spec.head_repeats) == (
            v["fpn_channels"], v["fpn_cell_repeats"], v["box_class_repeats"])
        assert spec.fusion == {"bifpn_fa": "fast_normalized", "bifpn_sum": "sum"}[v["fpn_name"]]
        assert (spec.min_level, spec.max_level) == (v["min_level"], v["max_level"])
        assert (spec.anchor_scale, spec.num_scales, spec.num_classes) == (
            v["anchor_scale"], v["num_scales"], v["num_classes"])
        assert [list(a) for a in spec.aspect_ratios] == v["aspect_ratios"]
        assert spec.checkpoint_url == v["checkpoint_url"]


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


def test_image_size_must_fit_the_pyramid():
    from dataclasses import replace

    with pytest.raises(ValueError, match="divisible by 128"):
        replace(DETECTORS["d0"], image_size=500)
