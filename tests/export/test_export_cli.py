"""jobs/export.py misused: one line (after argparse's usage where argparse refuses), exit 2 for a
bad argument and 1 for input or output that cannot be had, and nothing written."""
import json

import pytest

from jobs import export as export_cli

from .job_output import run_manifest, write_job_output


def _argv(predictions, fmt: str, output, *extra) -> list[str]:
    return ["--predictions", str(predictions), "--format", fmt, "--output", str(output), *map(str, extra)]


def _cases(tmp):
    instances = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "annotations": [],
                 "categories": [{"id": 1, "name": "cat"}]}
    pred, other, out = tmp / "pred", tmp / "other", tmp / "out" / "x.json"
    write_job_output(pred, instances, [], run_manifest(instances))
    other.mkdir()
    (other / "part-0.parquet").write_bytes((pred / "part-0.parquet").read_bytes())
    for run, name in (("a", "cat"), ("b", "dog")):
        manifest = {"run_id": run, "model": "d0", "labels": {"categories": [{"id": 1, "name": name}]}}
        (other / f"_manifest-{run}.json").write_text(json.dumps(manifest))
    (tmp / "folder.json").mkdir()
    return {
        "missing predictions": (_argv(tmp / "none", "coco", out), 1, "error: predictions", "do not exist"),
        # argparse's lines start with the program's name: under pytest, not export.py.
        "unknown format": (_argv(pred, "yolo", out), 2, "", ": error: argument --format: invalid choice"),
        "zero min score": (_argv(pred, "coco", out, "--min-score", "0"), 2, "",
                           ": error: argument --min-score: expected a positive number"),
        "missing annotations": (_argv(pred, "coco", out, "--annotations", tmp / "none.json"), 2,
                                "error: annotations file", "does not exist"),
        "annotations for label-studio": (_argv(pred, "label-studio", out, "--annotations", tmp / "none.json"), 2,
                                         "error: --annotations is an option of --format coco", "label-studio"),
        "url prefix for coco-dataset": (_argv(pred, "coco-dataset", out, "--url-prefix", "http://x/"), 2,
                                        "error: --url-prefix is an option of --format label-studio", "coco-dataset"),
        "match without annotations": (_argv(pred, "coco", out, "--match", "stem"), 2, "error: --match",
                                      "give --annotations"),
        "config over the output": (_argv(pred, "label-studio", tmp / "out" / "x.xml"), 2,
                                   "error: the labeling config would overwrite", "--config"),
        "two label sets": (_argv(other, "coco-dataset", out), 1, "error: the run manifests", "'cat' and 'dog'"),
        "output is a folder": (_argv(pred, "coco", tmp / "folder.json"), 1, "error: cannot write", "folder.json"),
    }


CASES = ["missing predictions", "unknown format", "zero min score", "missing annotations",
         "annotations for label-studio", "url prefix for coco-dataset", "match without annotations",
         "config over the output", "two label sets", "output is a folder"]


def test_every_case_is_listed(tmp_path):
    assert sorted(_cases(tmp_path)) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_misuse_is_one_line_and_writes_nothing(case, tmp_path, capsys):
    argv, code, starts, contains = _cases(tmp_path)[case]
    try:
        got = export_cli.main(argv)
    except SystemExit as exit_info:  # argparse's own checks
        got = exit_info.code
    out, err = capsys.readouterr()
    *above, last = err.strip().splitlines()
    assert got == code and out == "" and last.startswith(starts) and contains in last, err
    assert all(line.startswith(("usage:", " ")) for line in above), err  # argparse's usage, nothing else
    assert not (tmp_path / "out").exists()


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--help"])
    assert exit_info.value.code == 0 and "label-studio" in capsys.readouterr().out
