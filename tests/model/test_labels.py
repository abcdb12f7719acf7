"""Class names and ids: each rule of how a label file maps onto an N-class head, and its errors."""
import json

import numpy as np
import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.model import Detector
from effdet_batch.model.labels import COCO_NAMES, coco_labels, default_labels, resolve_labels


def _coco_file(tmp_path, categories, name="instances.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": categories}))
    return str(path)


def _one_line(call):
    with pytest.raises(ConfigError) as err:
        call()
    message = str(err.value)
    assert message and "\n" not in message
    return message


def test_coco_instances_categories_on_the_90_class_head_map_by_id(tmp_path):
    # COCO's own 80 categories, ids 1..90 with gaps: each index i takes id i + 1.
    categories = [{"id": i, "name": n, "supercategory": "x"} for i, n in COCO_NAMES.items()]
    labels = resolve_labels(_coco_file(tmp_path, categories), 90)
    assert labels.ids == tuple(range(1, 91))
    assert labels.names[0] == "person" and labels.names[89] == "toothbrush"
    assert labels.names[11] == "class_12"  # id 12 is one of COCO's gaps
    assert labels.name_by_id == coco_labels().name_by_id and labels.sha256 == coco_labels().sha256


def test_shared_labels_json_maps_by_position(shared):
    # Ids 11, 7, 3 listed out of order on a 3-class head: not all in 1..3, exactly 3 categories.
    path = shared / "reference/parity_custom/labels.json"
    labels = resolve_labels(str(path), 3)
    assert labels.ids == (11, 7, 3) and labels.names == ("tent", "kayak", "bicycle")


def test_ids_that_fit_map_by_id_even_when_listed_out_of_order(tmp_path):
    labels = resolve_labels(_coco_file(tmp_path, [{"id": 3, "name": "c"}, {"id": 1, "name": "a"}]), 3)
    assert labels.ids == (1, 2, 3) and labels.names == ("a", "class_2", "c")


def test_label_order_overrides_the_rule(tmp_path):
    path = _coco_file(tmp_path, [{"id": 2, "name": "b"}, {"id": 1, "name": "a"}])
    assert resolve_labels(path, 2).names == ("a", "b")
    by_position = resolve_labels(path, 2, order="position")
    assert by_position.ids == (2, 1) and by_position.names == ("b", "a")
    far = _coco_file(tmp_path, [{"id": 20, "name": "x"}, {"id": 10, "name": "y"}], "far.json")
    assert "1..2" in _one_line(lambda: resolve_labels(far, 2, order="id"))


def test_names_lists_from_json_and_text_map_by_position(tmp_path):
    names = ["cat", "dog", "ferret"]
    as_json = tmp_path / "names.json"
    as_json.write_text(json.dumps(names))
    as_text = tmp_path / "names.txt"
    as_text.write_text("cat\ndog\n\nferret\n")
    for source in (str(as_json), str(as_text), names):
        labels = resolve_labels(source, 3)
        assert labels.ids == (1, 2, 3) and labels.names == tuple(names)
    assert resolve_labels(str(as_text), 3).sha256 == resolve_labels(names, 3).sha256


def test_no_labels_gives_coco_for_90_classes_and_numbered_names_otherwise():
    assert resolve_labels(None, 90) == coco_labels()
    labels = resolve_labels(None, 4)
    assert labels == default_labels(4) and labels.names == ("class_1", "class_2", "class_3", "class_4")


def test_a_names_list_of_the_wrong_length_is_one_line(tmp_path):
    path = tmp_path / "coco80.txt"
    path.write_text("\n".join(COCO_NAMES.values()))  # 80 names for a 90-class head
    message = _one_line(lambda: resolve_labels(str(path), 90))
    assert "80 names" in message and "90 classes" in message


def test_a_coco_file_that_fits_neither_rule_is_one_line(tmp_path):
    path = _coco_file(tmp_path, [{"id": 11, "name": "a"}, {"id": 7, "name": "b"}])  # 2 categories, 3 classes
    message = _one_line(lambda: resolve_labels(path, 3))
    assert "neither by id" in message and "nor by position" in message


def test_unreadable_and_malformed_label_files_are_one_line(tmp_path):
    assert "cannot read label file" in _one_line(lambda: resolve_labels(str(tmp_path / "missing.json"), 3))
    broken = tmp_path / "broken.json"
    broken.write_text('{"categories": [')
    assert "not valid JSON" in _one_line(lambda: resolve_labels(str(broken), 3))
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"classes": 3}))
    assert "expected COCO JSON" in _one_line(lambda: resolve_labels(str(odd), 3))


def test_detector_names_its_classes_and_returns_their_ids(shared, photos):
    root = shared / "reference/parity_custom"
    detector = Detector("d0", checkpoint=str(root / "d0_3class_seed0_train.pth.tar"), device="cpu",
                        labels=str(root / "labels.json"))
    assert detector.num_classes == 3 and detector.labels.names == ("tent", "kayak", "bicycle")
    plain = Detector("d0", checkpoint=str(root / "d0_3class_seed0_train.pth.tar"), device="cpu")
    assert plain.labels == default_labels(3)
    (named,), (numbered,) = detector.predict(photos[:1]), plain.predict(photos[:1])
    assert len(named["classes"]) > 0 and set(named["classes"]) <= {11, 7, 3}
    # Same detections; class index i (1-based) became the i-th category's id.
    np.testing.assert_array_equal(named["classes"], np.array([11, 7, 3])[numbered["classes"] - 1])
    np.testing.assert_array_equal(named["scores"], numbered["scores"])
    with pytest.raises(ConfigError):
        Detector("d0", checkpoint="random", device="cpu", labels=["only", "two"])
