"""Checkpoint sources and every way they can be wrong; downloads are served on 127.0.0.1."""
import argparse
import functools
import hashlib
import http.server
import shutil
import threading

import pytest
import torch

from effdet_batch.errors import CheckpointError
from effdet_batch.model import create_model
from effdet_batch.model.config import DETECTORS


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("EFFDET_BATCH_CACHE", str(path))
    monkeypatch.delenv("EFFDET_BATCH_WEIGHTS_MIRROR", raising=False)
    return path


@pytest.fixture
def served(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_error(source, name="d0") -> str:
    with pytest.raises(CheckpointError) as err:
        create_model(name, checkpoint=source)
    message = str(err.value)
    assert "\n" not in message and message
    return message


def test_loads_the_reference_checkpoint_strictly(parity):
    model = create_model("d0", checkpoint=str(parity["checkpoint"]))
    reference = torch.load(parity["checkpoint"], weights_only=True)
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.weights.sha256 == hashlib.sha256(parity["checkpoint"].read_bytes()).hexdigest()


def test_state_dict_without_num_batches_tracked_loads(parity):
    state = torch.load(parity["checkpoint"], weights_only=True)
    trimmed = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(trimmed) < len(state)
    model = create_model("d0", checkpoint=trimmed)
    assert torch.equal(model.state_dict()["class_net.predict.conv_pw.bias"], state["class_net.predict.conv_pw.bias"])


def test_safetensors_file_gives_the_same_weights(parity, tmp_path):
    from safetensors.torch import save_file

    state = torch.load(parity["checkpoint"], weights_only=True)
    path = tmp_path / "d0.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = create_model("d0", checkpoint=str(path))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_missing_file(tmp_path):
    message = _one_line_error(str(tmp_path / "nope.pth"))
    assert "not found" in message and "nope.pth" in message and "random" in message


def test_corrupt_and_truncated_files(parity, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 100)
    assert "not a readable" in _one_line_error(str(junk))
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(parity["checkpoint"].read_bytes()[: 1 << 20])
    assert "truncated.pth" in _one_line_error(str(truncated))


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    assert "holds a list" in _one_line_error(str(path))


def test_wrong_variant_names_what_it_found(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(create_model("d1", checkpoint="random").state_dict(), path)
    message = _one_line_error(str(path), "d0")
    assert "does not fit tf_efficientdet_d0" in message and "looks like a tf_efficientdet_d1" in message
    assert "expected (" in message and "found (" in message


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"backbone.conv_stem.weight": Exploit()}, path)
    message = _one_line_error(str(path))
    assert "refused" in message and "open" in message  # names the object it would have called
    assert not marker.exists()
    # The same inside a training file: args beside the state dict that are not a plain Namespace.
    training = tmp_path / "evil_train.pth.tar"
    torch.save({"state_dict": create_model("d0", "random").state_dict(), "args": Exploit()}, training)
    assert "refused" in _one_line_error(str(training))
    assert not marker.exists()


def test_hash_in_file_name_is_verified(parity, tmp_path):
    sha = hashlib.sha256(parity["checkpoint"].read_bytes()).hexdigest()
    good = tmp_path / f"mine_d0-{sha[:8]}.pth"
    shutil.copy(parity["checkpoint"], good)
    assert create_model("d0", checkpoint=str(good)).weights.sha256 == sha
    forged = tmp_path / DETECTORS["d0"].checkpoint_name  # the published name, other bytes
    shutil.copy(parity["checkpoint"], forged)
    message = _one_line_error(str(forged))
    assert "failed verification" in message and "f153e0cf" in message


def test_download_over_http_then_from_cache(parity, cache, served):
    root, base = served
    shutil.copy(parity["checkpoint"], root / "tf_efficientdet_d0_seed0.pth")
    url = f"{base}/tf_efficientdet_d0_seed0.pth"
    first = create_model("d0", checkpoint=url)
    cached = list(cache.rglob("*.pth"))
    assert len(cached) == 1 and cached[0].read_bytes() == parity["checkpoint"].read_bytes()
    (root / "tf_efficientdet_d0_seed0.pth").unlink()  # the server no longer has it: cache serves
    second = create_model("d0", checkpoint=url)
    assert first.weights.sha256 == second.weights.sha256
    assert not list(cache.rglob("*.part"))


def test_official_weights_through_a_mirror_are_verified(parity, cache, served, monkeypatch):
    root, base = served
    shutil.copy(parity["checkpoint"], root / DETECTORS["d0"].checkpoint_name)
    monkeypatch.setenv("EFFDET_BATCH_WEIGHTS_MIRROR", base)
    message = _one_line_error(None)
    assert "failed verification" in message


def test_offline_official_download_says_how_to_supply_the_file(cache, monkeypatch):
    monkeypatch.setenv("EFFDET_BATCH_WEIGHTS_MIRROR", f"http://127.0.0.1:{_closed_port()}/weights")
    message = _one_line_error(None)
    name = DETECTORS["d0"].checkpoint_name
    assert "cannot download" in message and name in message
    assert "--weights" in message and str(cache / name) in message and "random" in message
    assert not list(cache.rglob("*.part"))


def test_credentials_never_appear_in_errors(cache):
    url = f"http://alice:s3cr3t@127.0.0.1:{_closed_port()}/w/d0.pth?X-Amz-Signature=abcdef"
    message = _one_line_error(url)
    assert "s3cr3t" not in message and "abcdef" not in message and "alice" not in message
    assert "127.0.0.1" in message


def test_bad_checkpoint_type():
    assert "not int" in _one_line_error(42)


@pytest.fixture(scope="module")
def training_file(shared):
    """effdet's train.py output: state_dict, state_dict_ema, optimizer, args (a Namespace), epoch..."""
    return shared / "reference/parity_custom/d0_3class_seed0_train.pth.tar"


def test_training_file_loads_its_ema_weights_and_infers_the_classes(training_file):
    model = create_model("d0", checkpoint=str(training_file))
    with torch.serialization.safe_globals([argparse.Namespace]):
        saved = torch.load(training_file, weights_only=True)
    assert model.num_classes == 3 and model.weights.state == "state_dict_ema"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["state_dict_ema"].items())
    assert not torch.equal(saved["state_dict_ema"]["class_net.predict.conv_pw.bias"],
                           saved["state_dict"]["class_net.predict.conv_pw.bias"])  # the choice matters


def test_training_file_without_ema_and_with_ddp_prefixes_loads_its_state_dict(tmp_path):
    state = create_model("d1", "random", num_classes=12).state_dict()
    path = tmp_path / "d1_12class.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "optimizer": {"state": {}},
                "args": argparse.Namespace(model="tf_efficientdet_d1", num_classes=12), "epoch": 7,
                "metric": 0.31}, path)
    model = create_model("d1", checkpoint=str(path))
    assert model.num_classes == 12 and model.weights.state == "state_dict"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_training_file_with_no_state_dict_is_one_line(tmp_path):
    path = tmp_path / "empty_run.pth.tar"
    torch.save({"epoch": 3, "args": argparse.Namespace(model="d0"), "optimizer": {}}, path)
    message = _one_line_error(str(path))
    assert "no state dict" in message and "epoch" in message and "state_dict_ema" in message


def test_num_classes_must_agree_with_the_checkpoint(training_file):
    assert create_model("d0", checkpoint=str(training_file), num_classes=3).num_classes == 3
    with pytest.raises(CheckpointError) as err:
        create_model("d0", checkpoint=str(training_file), num_classes=90)
    assert "3-class head" in str(err.value) and "num_classes=90" in str(err.value) and "\n" not in str(err.value)


def test_random_weights_take_the_head_they_are_given():
    model = create_model("d0", "random", num_classes=3)
    assert model.num_classes == 3
    assert model.state_dict()["class_net.predict.conv_pw.bias"].shape == (27,)
    assert create_model("d0", "random").num_classes == 90


def test_a_fine_tuned_checkpoint_of_another_variant_says_what_it_holds(tmp_path):
    path = tmp_path / "lite.pth"
    torch.save(create_model("lite0", checkpoint="random", num_classes=5).state_dict(), path)
    message = _one_line_error(str(path), "d0")
    assert "looks like a tf_efficientdet_lite0 checkpoint with 5 classes" in message
    other = tmp_path / "d2.pth"
    torch.save(create_model("d2", checkpoint="random", num_classes=12).state_dict(), other)
    assert "looks like a tf_efficientdet_d2 or d2_ap checkpoint with 12 classes" in _one_line_error(str(other), "lite2")
