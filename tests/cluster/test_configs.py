"""Every YAML in cluster/ parses, passes the schema that checks it for real (Ray's cluster-config
schema, as `ray up` applies it; the OpenAPI schemas of KubeRay's CRDs, as the Kubernetes API
server applies them), has what its kind requires here, agrees with run.py on the storage
environment, and names entrypoints that exist in the image (cluster/Dockerfile puts the checkout
at its WORKDIR) and pass --dry-run against a loopback S3 holding the buckets they name."""
import copy
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from effdet_batch.pipeline.run import STORAGE_RETRIES
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


def _check_retried(spec: dict, where: str) -> None:
    """A RayJob is retried (backoffLimit): a retry, or the next night, that finds the run before it
    still writing waits for it instead of failing."""
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict), where
    assert "--wait" in shlex.split(spec["entrypoint"]), f"{where}: the entrypoint needs --wait"


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
        types = doc["available_node_types"]  # head type and worker bounds: see _ray_up_error
        workers = [t for name, t in types.items() if name != doc["head_node_type"]]
        assert any(t["resources"].get("GPU", 0) >= 1 for t in workers), f"{where}: no GPU node type"
        assert all(t["node_config"].get("InstanceType") for t in types.values()), where
        starts = [c for c in doc["head_start_ray_commands"] + doc["worker_start_ray_commands"] if "ray start" in c]
        assert len(starts) == 2 and all("RAY_AUTH_MODE=token" in shlex.split(c.split("ray start")[0])
                                        for c in starts), f"{where}: every node starts Ray with token authentication"
        assert "RAY_AUTH_TOKEN=" not in path.read_text().split("setup_commands")[-1], f"{where}: a token in the file"
        return
    assert doc["apiVersion"] and (doc["metadata"].get("name") or doc["metadata"].get("generateName")), \
        f"{where}: needs an apiVersion, and a metadata.name or generateName"
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
        assert spec.get("authOptions") == {"mode": "token"}, f"{where}: Ray's token authentication must be on"
    elif kind in ("RayJob", "RayCronJob"):
        assert doc["apiVersion"] == "ray.io/v1", where
        if kind == "RayCronJob":
            assert CRON.match(doc["spec"]["schedule"]), f"{where}: schedule is not a 5-field cron"
        (spec,) = _rayjob_specs(doc)
        assert spec["entrypoint"] and ("rayClusterSpec" in spec or "clusterSelector" in spec), where
        _check_retried(spec, where)
    elif kind == "CronJob":
        assert doc["apiVersion"] == "batch/v1" and CRON.match(doc["spec"]["schedule"]), where
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]
        assert pod["spec"]["restartPolicy"] in ("OnFailure", "Never"), where
        _check_pod(pod, where)
    elif kind == "ConfigMap":
        assert _rayjob_specs(doc), f"{where}: holds no RayJob"
        for spec in _rayjob_specs(doc):
            _check_retried(spec, where)
    elif kind in ("Role", "RoleBinding", "ServiceAccount"):
        pass  # an apiVersion and a name (above) are all they need here
    else:
        raise AssertionError(f"{where}: no check for this kind")


def test_every_yaml_parses_and_has_what_its_kind_requires():
    docs = _documents()
    kinds = {d.get("kind", p.name) for p, d in docs}
    assert {"RayCluster", "RayJob", "RayCronJob", "CronJob", "aws-gpu.yaml", "runtime_env.yaml"} <= kinds
    for path, doc in docs:
        _check(path, doc)


def test_a_resource_needs_an_api_version_and_a_name():
    where = CLUSTER / "kuberay" / "made-up.yaml"
    _check(where, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"generateName": "x-"}})
    for doc in ({"apiVersion": "", "kind": "ServiceAccount", "metadata": {"generateName": "x-"}},
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {}}):
        with pytest.raises(AssertionError, match="needs an apiVersion, and a metadata.name or generateName"):
            _check(where, doc)


def _ray_up_error(config: dict) -> str | None:
    """What `ray up` refuses in a cluster-launcher config before it calls the cloud: it fills in
    the provider's defaults, then checks the result against ray/autoscaler/ray-schema.json and
    the node types' bounds (ray.autoscaler._private.commands._bootstrap_config)."""
    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except jsonschema.ValidationError as exc:
        return exc.message
    except ValueError as exc:
        return str(exc)
    return None


def _no_unknown_fields(schema: dict) -> dict:
    """`schema` with additionalProperties false where it lists `properties`. The API server prunes
    fields a structural schema does not list instead of refusing them, so a misspelt field would
    vanish without a word; here it fails."""
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {name: _no_unknown_fields(s) for name, s in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    for key in ("items", "additionalProperties"):  # anyOf and the like cannot add fields in a structural schema
        if isinstance(schema.get(key), dict):
            out[key] = _no_unknown_fields(schema[key])
    return out


@pytest.fixture(scope="module")
def kuberay(shared: Path) -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    """A validator per (apiVersion, kind) of KubeRay's CRDs: their openAPIV3Schema, unknown fields refused."""
    validators = {}
    for path in sorted((shared / "reference" / "kuberay_crds").glob("ray.io_*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            schema = _no_unknown_fields(version["schema"]["openAPIV3Schema"])
            validators[f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"]] = \
                jsonschema.Draft202012Validator(schema)
    return validators


def _crd_errors(kuberay: dict, doc: dict) -> list[str]:
    key = (doc["apiVersion"], doc["kind"])
    assert key in kuberay, f"no KubeRay CRD for {key}"
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in kuberay[key].iter_errors(doc)]


def _kuberay_resources() -> dict[str, dict]:
    """The KubeRay resources of cluster/ by where they are, a RayJob held in a ConfigMap included."""
    found = {}
    for path, doc in _documents():
        where = str(path.relative_to(CLUSTER))
        if doc.get("kind") == "ConfigMap":
            found |= {f"{where} {key}": yaml.safe_load(text) for key, text in doc["data"].items()}
        elif doc.get("apiVersion", "").startswith("ray.io/"):
            found[where] = doc
    return found


def test_launcher_configs_pass_ray_up_validation():
    configs = [(path, doc) for path, doc in _documents() if path.parent.name == "launcher"]
    assert configs
    for path, config in configs:
        assert _ray_up_error(config) is None, path


def test_kuberay_resources_pass_the_crd_schemas(kuberay):
    resources = _kuberay_resources()
    assert set(resources) >= {"kuberay/raycluster.yaml", "kuberay/rayjob.yaml", "kuberay/raycronjob.yaml",
                              "kuberay/cronjob.yaml rayjob.yaml"}
    for where, doc in resources.items():
        assert _crd_errors(kuberay, doc) == [], where


def _rename(name):
    return lambda parent, key: parent.__setitem__(name, parent.pop(key))


def _set(value):
    return lambda parent, key: parent.__setitem__(key, value)


def _broken(doc: dict, path: str, change) -> dict:
    """A copy of `doc` with `change` made at `path` (dotted; numbers index lists)."""
    doc = copy.deepcopy(doc)
    *parents, key = path.split(".")
    parent = doc
    for step in parents:
        parent = parent[int(step)] if isinstance(parent, list) else parent[step]
    change(parent, key)
    return doc


@pytest.mark.parametrize("path, change, error", [
    ("idle_timeout_minutes", _rename("idle_timeout_minute"), "'idle_timeout_minute' was unexpected"),
    ("available_node_types.gpu.min_workers", _rename("min_worker"), "'min_worker' was unexpected"),
    ("max_workers", _set("8"), "'8' is not of type 'integer'"),
    ("available_node_types.gpu.resources.GPU", _set(0.5), "0.5 is not of type 'integer'"),
    ("available_node_types.gpu.min_workers", _set(9), "smaller than the sum of `min_workers`"),
])
def test_a_broken_launcher_config_fails_ray_up_validation(path, change, error):
    ((_, config),) = [(p, d) for p, d in _documents() if p.name == "aws-gpu.yaml"]
    assert error in (_ray_up_error(_broken(config, path, change)) or "")


@pytest.mark.parametrize("where, path, change, error", [
    ("kuberay/raycluster.yaml", "spec.enableInTreeAutoscaling", _rename("enableInTreeAutoScaling"),
     "'enableInTreeAutoScaling' was unexpected"),
    ("kuberay/raycluster.yaml", "spec.workerGroupSpecs.0.template.spec.containers.0.resources", _rename("resource"),
     "'resource' was unexpected"),
    ("kuberay/raycluster.yaml", "spec.workerGroupSpecs.0.maxReplicas", _set("8"), "'8' is not of type 'integer'"),
    ("kuberay/raycluster.yaml", "spec.headGroupSpec.rayStartParams.num-cpus", _set(0), "0 is not of type 'string'"),
    ("kuberay/raycluster.yaml", "spec.authOptions.mode", _set("on"), "'on' is not one of ['disabled', 'token']"),
    ("kuberay/rayjob.yaml", "spec.entrypoint", _rename("entryPoint"), "'entryPoint' was unexpected"),
    ("kuberay/rayjob.yaml", "spec.backoffLimit", _set("2"), "'2' is not of type 'integer'"),
    ("kuberay/raycronjob.yaml", "spec.concurrencyPolicy", _set("Forbid"), "'concurrencyPolicy' was unexpected"),
    ("kuberay/raycronjob.yaml", "spec.jobTemplate.runtimeEnvYAML", _rename("runtimeEnvYaml"),
     "'runtimeEnvYaml' was unexpected"),
    ("kuberay/raycronjob.yaml", "spec.suspend", _set("no"), "'no' is not of type 'boolean'"),
    ("kuberay/cronjob.yaml rayjob.yaml", "spec.clusterSelector", _rename("clusterSelectors"),
     "'clusterSelectors' was unexpected"),
    ("kuberay/cronjob.yaml rayjob.yaml", "spec.activeDeadlineSeconds", _set("12h"), "'12h' is not of type 'integer'"),
])
def test_a_broken_kuberay_resource_fails_its_crd_schema(kuberay, where, path, change, error):
    errors = _crd_errors(kuberay, _broken(_kuberay_resources()[where], path, change))
    assert any(error in e for e in errors), errors


def test_job_environments_agree_with_the_storage_retries_of_run_py():
    # run.py's STORAGE_RETRIES is what a job sets when started by jobs/*.py; jobs that ray or
    # KubeRay start get the YAMLs' copies, which must say the same (and agree on the rest).
    envs = {"runtime_env.yaml": yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())["env_vars"]}
    for where, doc in _kuberay_resources().items():
        for spec in _rayjob_specs(doc):
            envs[where] = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert set(envs) >= {"runtime_env.yaml", "kuberay/rayjob.yaml", "kuberay/raycronjob.yaml",
                         "kuberay/cronjob.yaml rayjob.yaml"}
    for where, env in envs.items():
        assert {k: env.get(k) for k in STORAGE_RETRIES} == STORAGE_RETRIES, where
        assert env == envs["runtime_env.yaml"], where


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


def test_both_clusters_detect_node_death_alike():
    # A cluster setting of the head (its GCS), not the job's: the KubeRay head's values (which the
    # test cluster of tests/ray_cluster.py starts its head with) are the launcher head's too.
    from tests.ray_cluster import node_death_settings

    settings = node_death_settings()
    assert set(settings) == {"RAY_health_check_period_ms", "RAY_health_check_timeout_ms",
                             "RAY_health_check_failure_threshold"}
    launcher = yaml.safe_load((CLUSTER / "launcher" / "aws-gpu.yaml").read_text())
    (head_start,) = [c for c in launcher["head_start_ray_commands"] if "ray start" in c]
    assert dict(w.split("=", 1) for w in shlex.split(head_start) if w.startswith("RAY_health")) == settings
    for command in launcher["worker_start_ray_commands"]:
        assert "health_check" not in command  # the GCS reads them; a worker's copy would do nothing
