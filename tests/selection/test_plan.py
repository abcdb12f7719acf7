"""Candidates: published variants by name with checkpoints from --weights-dir by their official file
names, own models from a YAML or JSON list; and jobs/select.py's misuse, one line, nothing written."""
import json

import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.model import get_spec
from effdet_batch.selection.plan import PlannedModel, plan_models
from jobs import select as select_cli


def test_published_models_take_official_files_from_the_weights_dir(tmp_path):
    (tmp_path / get_spec("d1").checkpoint_name).write_bytes(b"checked when loaded")
    (tmp_path / "tf_efficientdet_d0.pth").write_bytes(b"not the release name")
    planned = plan_models("d0, tf_efficientdet_d1,lite0", None, str(tmp_path))
    assert planned == [PlannedModel("d0", "d0", None),
                       PlannedModel("d1", "d1", str(tmp_path / get_spec("d1").checkpoint_name)),
                       PlannedModel("lite0", "lite0", None)]
    assert [m.weights for m in plan_models("d0,d1", None, str(tmp_path), random=True)] == ["random", "random"]


def test_own_models_from_yaml_or_json(tmp_path):
    (tmp_path / "mine.yaml").write_text("- {name: forklifts, model: d3, weights: runs/best.pth.tar, labels: l.txt}\n"
                                        "- name: d3-plain\n  model: efficientdet-d3\n  weights: s3://m/d3.pth\n")
    (tmp_path / "mine.json").write_text(json.dumps([{"name": "x", "model": "d0", "weights": "w.pth"}]))
    assert plan_models("d0", str(tmp_path / "mine.yaml")) == [
        PlannedModel("d0", "d0"), PlannedModel("forklifts", "d3", "runs/best.pth.tar", "l.txt"),
        PlannedModel("d3-plain", "d3", "s3://m/d3.pth")]
    assert plan_models(None, str(tmp_path / "mine.json")) == [PlannedModel("x", "d0", "w.pth")]


@pytest.mark.parametrize("text, message", [
    ("{name: x}", "expected a non-empty list of candidates"),
    ("- {name: x, model: d0}", "entry 1: no weights"),
    ("- {name: x, model: d0, weights: w, epochs: 3}", "entry 1: unknown key(s) epochs"),
    ("- {name: ../x, model: d0, weights: w}", "name '../x' must be letters, digits"),
    ("- {name: x, model: d9, weights: w}", "unknown model 'd9'"),
    ("- {name: d0, model: d1, weights: w}", "two candidates are named 'd0'"),
    ("- [unclosed", "cannot read candidates file"),
])
def test_bad_candidates_files(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        plan_models("d0", str(path))


@pytest.mark.parametrize("extra, code, message", [
    (["--models", "d0", "--weights", "random"], 2, "error: random weights (d0) measure no accuracy: they are "
                                                   "refused unless --smoke is given"),
    (["--models", "d0,d42"], 2, "error: unknown model 'd42'"),
    (["--candidates", "none.yaml"], 2, "error: candidates file none.yaml does not exist"),
    (["--models", "d0", "--weights", "random", "--smoke", "--budget-per-million", "1"], 2,
     "error: --budget-per-million needs --gpu-hour-price"),
    ([], 2, "give --models and/or --candidates"),
])
def test_misuse_is_one_line_and_writes_nothing(tmp_path, capsys, extra, code, message):
    out = tmp_path / "sel"
    argv = ["--input", "examples/images", "--annotations", "gt.json", "--output", str(out), *extra]
    if extra:
        assert select_cli.main(argv) == code
    else:
        with pytest.raises(SystemExit) as exit_:
            select_cli.main(argv)
        assert exit_.value.code == code
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and (not extra or len(err) == 1)
    assert not out.exists()
