"""Misuse of the CLIs: one clear line, exit code 2, nothing written; and no credential ever
echoed back in an error."""
import json

import pytest

from effdet_batch.errors import cause_line, first_line
from jobs import benchmark, evaluate, infer, report

SECRET = "hunter2-misuse"


def _cases(tmp):
    images, out = "examples/images", str(tmp / "out")
    bad_json = tmp / "bad.json"
    bad_json.write_text('{"images": [')
    not_coco = tmp / "not-coco.json"
    not_coco.write_text(json.dumps({"images": "all of them"}))
    coco = tmp / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    return {
        "unknown model": (infer, ["--model", "d9", "--input", images, "--output", out], "unknown model 'd9'"),
        "bad input scheme": (infer, ["--model", "d0", "--input", "ftp2://lake/x", "--output", out],
                             "input ftp2://lake/x: unknown URI scheme ftp2://"),
        "bad output scheme": (infer, ["--model", "d0", "--input", images, "--output", f"zz://u:{SECRET}@b/o"],
                              "output zz://b/o: unknown URI scheme zz://"),
        "credentials in a URI": (infer, ["--model", "d0", "--input", f"s3://AKIA:{SECRET}@lake/x", "--output", out],
                                 "input s3://lake/x: credentials in the URI are refused"),
        "negative batch size": (infer, ["--model", "d0", "--input", images, "--output", out, "--batch-size", "-4"],
                                "argument --batch-size: expected a positive integer, got -4"),
        "bad precision": (infer, ["--model", "d0", "--input", images, "--output", out, "--precision", "fp8"],
                          "argument --precision: invalid choice: 'fp8'"),
        "no actors": (infer, ["--model", "d0", "--input", images, "--output", out, "--actors", "0"],
                      "--actors must be N or MIN,MAX with 1 <= MIN <= MAX"),
        "missing annotations": (evaluate, ["--predictions", images, "--annotations", str(tmp / "none.json"),
                                           "--output", out], "annotations file"),
        "malformed COCO JSON": (evaluate, ["--predictions", images, "--annotations", str(bad_json), "--output", out],
                                "is not valid JSON"),
        "not COCO instances": (evaluate, ["--predictions", images, "--annotations", str(not_coco), "--output", out],
                               "is not COCO instances JSON"),
        "bad predictions scheme": (evaluate, ["--predictions", "qq://x", "--annotations", str(coco),
                                              "--output", out], "unknown URI scheme qq://"),
        "negative price": (report, ["--runs", out, "--gpu-hour-price", "-1", "--output", out],
                           "argument --gpu-hour-price: expected a positive number, got -1.0"),
        "budget without price": (report, ["--runs", images, "--budget-per-million", "2", "--output", out],
                                 "--budget-per-million needs --gpu-hour-price"),
        "benchmark unknown model": (benchmark, ["--models", "d0,d42", "--device", "cpu"], "unknown model 'd42'"),
    }


CASES = ["unknown model", "bad input scheme", "bad output scheme", "credentials in a URI", "negative batch size",
         "bad precision", "no actors", "missing annotations", "malformed COCO JSON", "not COCO instances",
         "bad predictions scheme", "negative price", "budget without price", "benchmark unknown model"]


def test_every_case_is_listed(tmp_path):
    assert sorted(_cases(tmp_path)) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_misuse_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    from tests.helpers import REPO

    monkeypatch.chdir(REPO)  # the bundled sample images are a valid input
    cli, argv, message = _cases(tmp_path)[case]
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:  # argparse's own checks
        code = exit_info.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and message in err[-1] and "error" in err[-1]
    assert SECRET not in "\n".join(err)
    assert not (tmp_path / "out").exists()


def test_error_text_loses_url_credentials_and_finds_the_first_cause():
    message = "GET https://user:pw@host/key?X-Amz-Signature=abc failed\nsecond line"
    assert first_line(ValueError(message)) == "GET https://host/key failed"
    ray_text = ("ray::MapWorker() (pid=1)\n  File \"readers.py\", line 5\n"
                "botocore.exceptions.EndpointConnectionError: Could not connect to \"http://k:s@h/x?sig=1\"\n"
                "The above exception was the direct cause of the following exception:\n"
                "ray.exceptions.UserCodeException: UDF failed to process a data block.")
    assert cause_line(RuntimeError(ray_text)) == 'EndpointConnectionError: Could not connect to "http://h/x"'
    assert cause_line(KeyError("k")) == "KeyError: 'k'"


def _model_cases(tmp, shared):
    """Own-model misuse: wrong labels or checkpoints, refused before anything runs."""
    import argparse

    import torch

    from effdet_batch.model import create_model
    from effdet_batch.model.labels import COCO_NAMES

    custom = str(shared / "reference/parity_custom/d0_3class_seed0_train.pth.tar")
    coco80 = tmp / "coco80.txt"
    coco80.write_text("\n".join(COCO_NAMES.values()))
    misfit = tmp / "misfit.json"
    misfit.write_text(json.dumps({"categories": [{"id": 40, "name": "a"}, {"id": 41, "name": "b"}]}))
    no_state = tmp / "no_state.pth.tar"
    torch.save({"epoch": 3, "args": argparse.Namespace(model="tf_efficientdet_d0")}, no_state)
    marker = tmp / "pwned"
    evil = tmp / "evil.pth"
    torch.save({"state_dict": create_model("d0", "random").state_dict(), "args": _Exploit(str(marker))}, evil)
    run = ["--model", "d0", "--input", "examples/images", "--output", str(tmp / "out")]
    return marker, {
        "80 names for a 90-class head": (run + ["--labels", str(coco80)], 2, "lists 80 names"),
        "labels that fit neither rule": (run + ["--weights", custom, "--labels", str(misfit)], 2,
                                         "neither by id"),
        "unreadable label file": (run + ["--labels", str(tmp / "nope.json")], 2, "cannot read label file"),
        "training file without a state dict": (run + ["--weights", str(no_state)], 1, "no state dict"),
        "pickled classes": (run + ["--weights", str(evil)], 1, "refused: it holds pickled Python objects"),
    }


class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("case", ["80 names for a 90-class head", "labels that fit neither rule",
                                  "unreadable label file", "training file without a state dict", "pickled classes"])
def test_own_model_misuse_is_one_line_before_inference(case, shared, tmp_path, capsys, monkeypatch):
    from tests.helpers import REPO

    monkeypatch.chdir(REPO)
    marker, cases = _model_cases(tmp_path, shared)
    argv, expected_code, message = cases[case]
    code = infer.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expected_code and err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "out").exists() and not marker.exists()
