"""The layers' imports, read from the source: the pipeline and the views do not reach up into the
CLIs, the benchmark, the reports or relabel, and the model knows nothing of the pipeline."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "effdet_batch"

FORBIDDEN = {
    "pipeline": {"effdet_batch.benchmark", "effdet_batch.cli", "effdet_batch.reports", "effdet_batch.relabel",
                 "effdet_batch.evaluation", "effdet_batch.export", "effdet_batch.selection"},
    # Pages are drawn from the job's rows and sources; the evaluation, relabel and reports use them.
    "views": {"effdet_batch.benchmark", "effdet_batch.cli", "effdet_batch.reports", "effdet_batch.relabel",
              "effdet_batch.evaluation", "effdet_batch.export", "effdet_batch.selection"},
    "model": {"effdet_batch.pipeline", "effdet_batch.benchmark", "effdet_batch.cli", "effdet_batch.reports",
              "effdet_batch.relabel", "effdet_batch.evaluation", "effdet_batch.export", "effdet_batch.selection"},
    # The selection runs, evaluates and reports: what it uses never reaches back up to it.
    "reports": {"effdet_batch.selection"},
    "evaluation": {"effdet_batch.selection"},
}


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module `path` (a module of `package`) imports, anywhere in it (deferred imports too),
    as absolute names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _violations(layer: str) -> list[str]:
    out = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])
        for module in imported_modules(path, package):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                out.append(f"{path.relative_to(PACKAGE)} imports {module}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer):
    assert _violations(layer) == []


def test_the_reader_sees_relative_and_deferred_imports(tmp_path):
    # The check itself: what build.py imported before the split, inside a function.
    probe = tmp_path / "probe.py"
    probe.write_text("import ray\ndef f():\n    from ..benchmark import device_name\n    from . import stages\n")
    found = imported_modules(probe, "effdet_batch.pipeline")
    assert {"ray", "effdet_batch.benchmark", "effdet_batch.pipeline.stages"} <= found


def test_a_read_task_worker_does_not_import_torch():
    # Ray runs each read task's function in a worker that imports its module; torch's import is
    # seconds of CPU, taken from the detectors at the run's start, for rows that are only URIs.
    import subprocess
    import sys

    probe = "import sys, effdet_batch.pipeline.datasource; print(sorted(m for m in sys.modules if m == 'torch'))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
