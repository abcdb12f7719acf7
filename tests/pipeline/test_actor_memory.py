"""What a CPU detector actor reserves (resources.cpu_actor_memory) against what its work uses, measured
in a fresh process on 12 MP photos decoded at full size (the most a JPEG's decode takes)."""
import json
import subprocess
import sys

import pytest

from effdet_batch.model import get_spec
from effdet_batch.model.info import param_count
from effdet_batch.pipeline import PipelineConfig, build
from effdet_batch.pipeline.resources import ACTIVATION_BYTES, HEADROOM, cpu_actor_memory
from effdet_batch.synthetic_lake import phone_photo_jpeg
from tests.helpers import REPO

BATCH, THREADS, PARTS = 2, 2, 2


@pytest.fixture(scope="module")
def phone_photos(photos, tmp_path_factory):
    folder = tmp_path_factory.mktemp("phone")
    files = []
    for i in range(BATCH * PARTS):
        files.append(folder / f"{i}.jpg")
        files[-1].write_bytes(phone_photo_jpeg(photos[i % len(photos)], seed=i))
    return files


@pytest.mark.parametrize("model", ["d0", "lite0"])
def test_the_reservation_covers_an_actors_work_and_the_networks_share_is_not_overstated(model, phone_photos):
    out = subprocess.run([sys.executable, "-m", "tests.pipeline.memory_probe", model, str(BATCH), str(THREADS),
                          *map(str, phone_photos)], cwd=REPO, capture_output=True, text=True, check=True)
    peak = json.loads(out.stdout.strip().splitlines()[-1])
    spec = get_spec(model)
    first_channels = spec.backbone_spec.stages[0].out_channels
    need = cpu_actor_memory(spec.image_size, first_channels, param_count(model), BATCH, THREADS, PARTS)
    # The whole process (interpreter, torch, model, decodes, activations) fits what is reserved
    # before Ray Data's headroom. (What a Ray worker adds is not measured here: WORKER_BYTES is
    # taken from Ray Data's own figure for a 12 MP run, see resources.py.)
    assert peak["worked"] <= need / HEADROOM, peak
    # The activation term is what the network takes, not a multiple of it.
    activations = ACTIVATION_BYTES * first_channels * spec.image_size**2 * BATCH
    assert activations / 2 <= peak["detected"] - peak["loaded"] <= activations, peak


def test_an_actor_never_reserves_more_than_the_largest_node_with_cpus_has(monkeypatch, caplog):
    cfg = PipelineConfig(model="d7", inputs=("in",), output="out", weights="random", batch_size=8)
    spec = get_spec("d7")
    # No node with CPUs yet (an autoscaling cluster's head has none): the autoscaler starts one for it.
    monkeypatch.setattr(build, "node_memory", lambda: None)
    with caplog.at_level("WARNING"):
        need = build._cpu_actor_memory(cfg, spec, 90, threads=2)
    assert need > 16 * 2**30 and not caplog.text  # D7's 1536 px canvases: about 2 GB of activations each
    monkeypatch.setattr(build, "node_memory", lambda: 16 * 2**30)
    with caplog.at_level("WARNING"):
        assert build._cpu_actor_memory(cfg, spec, 90, threads=2) == 16 * 2**30
    assert ("d7 at --batch-size 8 needs about %.1f GiB per CPU detector actor, more than the largest node's "
            "16.0 GiB of Ray memory" % (need / 2**30)) in caplog.text
