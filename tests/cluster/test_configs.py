"""Every YAML in cluster/ parses, has what its kind requires, and names entrypoints that exist
in the image (cluster/Dockerfile puts the checkout at its WORKDIR) and pass --dry-run against a
loopback S3 holding the buckets they name."""
import re
import shlex
from pathlib import Path

import yaml

from jobs import infer, relabel
from tests.helpers import REPO

CLUSTER = REPO / "cluster"
CLIS = {"jobs/infer.py": infer, "jobs/relabel.py": relabel}
CRON = re.compile(r"^(\S+\s+){4}\S+$")


def _documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(CLUSTER.rglob("*.yaml")):
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def _workdir() -> str:
    (workdir,) = re.findall(r"^WORKDIR\s+(\S+)", (CLUSTER / "Dockerfile").read_text(), re.M)
    return workdir.rstrip("/") + "/"


def _rayjob_specs(doc: dict) -> list[dict]:
    """The RayJob specs a document runs: its own, its template's, or one embedded in a ConfigMap."""
    kind = doc.get("kind")
    if kind == "RayJob":
        return [doc["spec"]]
    if kind == "RayCronJob":
        return [doc["spec"]["jobTemplate"]]
    if kind == "ConfigMap":
        return [s for text in doc["data"].values() for d in yaml.safe_load_all(text) for s in _rayjob_specs(d)]
    return []


def _check_pod(template: dict, where: str) -> dict:
    (container, *_) = template["spec"]["containers"]
    assert container["image"] and container["name"], where
    return container


def _check(path: Path, doc: dict) -> None:
    where = f"{path.relative_to(REPO)}: {doc.get('kind', 'launcher config')}"
    kind = doc.get("kind")
    if path.name == "runtime_env.yaml":  # for ray job submit --runtime-env
        assert set(doc) <= {"env_vars", "working_dir", "py_modules", "pip", "uv", "conda", "container"}, where
        assert all(isinstance(v, str) for v in doc["env_vars"].values()), f"{where}: env values must be strings"
        return
    if kind is None:  # the Ray cluster launcher
        for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "max_workers"):
            assert key in doc, f"{where}: no {key}"
        assert doc["provider"]["type"] and doc["provider"].get("region"), where
        types = doc["available_node_types"]
        assert doc["head_node_type"] in types, where
        workers = [t for name, t in types.items() if name != doc["head_node_type"]]
        assert any(t["resources"].get("GPU", 0) >= 1 for t in workers), f"{where}: no GPU node type"
        assert sum(t.get("min_workers", 0) for t in workers) <= doc["max_workers"], where
        assert all(t["node_config"].get("InstanceType") for t in types.values()), where
        return
    assert doc["apiVersion"] and doc["metadata"].get("name") or doc["metadata"].get("generateName"), where
    if kind == "RayCluster":
        spec = doc["spec"]
        assert doc["apiVersion"] == "ray.io/v1" and spec["enableInTreeAutoscaling"] is True, where
        head = _check_pod(spec["headGroupSpec"]["template"], where)
        assert "rayStartParams" in spec["headGroupSpec"], where
        gpu_groups = 0
        for group in spec["workerGroupSpecs"]:
            assert group["groupName"] and 0 <= group["minReplicas"] <= group["maxReplicas"], where
            container = _check_pod(group["template"], where)
            gpu_groups += int(container["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1
            assert container["image"] == head["image"], f"{where}: head and workers must run one image"
        assert gpu_groups, f"{where}: no worker group with nvidia.com/gpu limits"
    elif kind in ("RayJob", "RayCronJob"):
        assert doc["apiVersion"] == "ray.io/v1", where
        if kind == "RayCronJob":
            assert CRON.match(doc["spec"]["schedule"]), f"{where}: schedule is not a 5-field cron"
        (spec,) = _rayjob_specs(doc)
        assert spec["entrypoint"] and ("rayClusterSpec" in spec or "clusterSelector" in spec), where
        assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict), where
    elif kind == "CronJob":
        assert doc["apiVersion"] == "batch/v1" and CRON.match(doc["spec"]["schedule"]), where
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]
        assert pod["spec"]["restartPolicy"] in ("OnFailure", "Never"), where
        _check_pod(pod, where)
    elif kind == "ConfigMap":
        assert _rayjob_specs(doc), f"{where}: holds no RayJob"
    elif kind in ("Role", "RoleBinding", "ServiceAccount"):
        assert doc["apiVersion"], where
    else:
        raise AssertionError(f"{where}: no check for this kind")


def test_every_yaml_parses_and_has_what_its_kind_requires():
    docs = _documents()
    kinds = {d.get("kind", p.name) for p, d in docs}
    assert {"RayCluster", "RayJob", "RayCronJob", "CronJob", "aws-gpu.yaml", "runtime_env.yaml"} <= kinds
    for path, doc in docs:
        _check(path, doc)


def _entrypoints() -> list[tuple[str, list[str]]]:
    workdir, found = _workdir(), []
    for path, doc in _documents():
        for spec in _rayjob_specs(doc):
            python, script, *args = shlex.split(spec["entrypoint"])
            assert python == "python" and script.startswith(workdir), f"{path}: {spec['entrypoint']}"
            found.append((script.removeprefix(workdir), args))
    return found


def test_entrypoints_exist_and_their_arguments_pass_dry_run(s3_env, monkeypatch, capsys):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_env)
    entrypoints = _entrypoints()
    assert {script for script, _ in entrypoints} == set(CLIS)  # the job and the nightly relabel
    buckets = {m for _, args in entrypoints for a in args for m in re.findall(r"^s3://([^/]+)", a)}
    created = [b for b in sorted(buckets) if not fs.exists(b)]  # moto's buckets are shared by the session
    for bucket in created:
        fs.mkdir(bucket)
    photo = next((REPO / "examples" / "images").glob("*.jpg"))
    fs.pipe("lake/images/0001.jpg", photo.read_bytes())
    monkeypatch.chdir(REPO)
    try:
        for script, args in entrypoints:
            assert (REPO / script).is_file(), script
            capsys.readouterr()
            assert CLIS[script].main([*args, "--dry-run"]) == 0, f"{script} {args}: {capsys.readouterr().err}"
    finally:
        fs.rm("lake/images/0001.jpg")
        for bucket in created:
            fs.rm(bucket, recursive=True)
