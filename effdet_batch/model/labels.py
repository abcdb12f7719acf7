"""Class names and ids of a detector's head: COCO's for the published weights, the user's for their own.

A head of N classes predicts class indices 0..N-1. A `LabelSet` gives each index the category id
written into the output (`category_ids`) and its name (`labels`). effdet trains either way, so a
label file maps in one of two ways:

- by id (effdet's default `cat_ids_as_labels`): class i is the category whose id is i + 1; indices
  no category covers keep i + 1 as id and the name `class_<id>` (COCO's 80 categories on its
  90-class head leave 10 such gaps);
- by position: class i is the i-th category listed (effdet's parser with `cat_ids_as_labels` off).

A file may be a COCO JSON (its `categories`), a JSON list of names or a text file of one name per
line; names lists always map by position.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError, first_line
from ..uri import redact

__all__ = ["COCO_NAMES", "LabelSet", "LabelOrder", "coco_labels", "default_labels", "resolve_labels"]

LabelOrder = Literal["id", "position"]

_COCO = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant - "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe - "
    "backpack umbrella - - handbag tie suitcase frisbee skis snowboard sports_ball kite "
    "baseball_bat baseball_glove skateboard surfboard tennis_racket bottle - wine_glass cup fork "
    "knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair "
    "couch potted_plant bed - dining_table - - toilet - tv laptop mouse remote keyboard cell_phone "
    "microwave oven toaster sink refrigerator - book clock vase scissors teddy_bear hair_drier toothbrush"
).split()
# COCO category id (1-90, with the gaps of the original 91-id list) -> name.
COCO_NAMES: dict[int, str] = {i: name.replace("_", " ") for i, name in enumerate(_COCO, start=1) if name != "-"}


@dataclass(frozen=True)
class LabelSet:
    """Category id and name of each class index of a head; `source` says where they came from."""

    ids: tuple[int, ...]
    names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.names) or len(set(self.ids)) != len(self.ids):
            raise ValueError("a label set needs one distinct id and one name per class")

    @property
    def num_classes(self) -> int:
        return len(self.ids)

    @property
    def sha256(self) -> str:
        """Identifies the mapping itself (ids and names in class order), whatever file it came from."""
        return hashlib.sha256(json.dumps(self.categories(), separators=(",", ":")).encode()).hexdigest()

    def categories(self) -> list[dict[str, object]]:
        """COCO-style categories in class order."""
        return [{"id": i, "name": n} for i, n in zip(self.ids, self.names)]

    @property
    def name_by_id(self) -> dict[int, str]:
        return dict(zip(self.ids, self.names))


def _by_id(categories: Mapping[int, str], num_classes: int, source: str) -> LabelSet:
    ids = tuple(range(1, num_classes + 1))
    return LabelSet(ids, tuple(categories.get(i, f"class_{i}") for i in ids), source)


def coco_labels() -> LabelSet:
    """COCO's ids and names on the 90-class head of the published weights."""
    return _by_id(COCO_NAMES, 90, "coco")


def default_labels(num_classes: int) -> LabelSet:
    """Ids 1..N named class_1..class_N: a head whose names nobody gave."""
    return _by_id({}, num_classes, "default")


def _read(source: str) -> object:
    import fsspec  # deferred: only needed when a file is read

    try:
        with fsspec.open(source, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read label file {redact(source)}: {first_line(exc)}") from None
    if source.lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"label file {redact(source)} is not valid JSON: {first_line(exc)}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _categories(content: object, where: str) -> dict[int, str] | list[str]:
    """COCO categories as {id: name} in listed order, or a list of names."""
    if isinstance(content, list) and all(isinstance(n, str) for n in content):
        return content
    if isinstance(content, Mapping) and isinstance(content.get("categories"), list):
        content = content["categories"]
    if isinstance(content, list) and all(isinstance(c, Mapping) and "id" in c and "name" in c for c in content):
        try:
            categories = {int(c["id"]): str(c["name"]) for c in content}
        except (TypeError, ValueError):
            raise ConfigError(f"label file {where}: category ids must be integers") from None
        if len(categories) != len(content):
            raise ConfigError(f"label file {where}: category ids repeat")
        return categories
    raise ConfigError(f"label file {where}: expected COCO JSON with categories, a JSON list of names, "
                      "or one name per line")


def _from_categories(
    categories: dict[int, str] | list[str], num_classes: int, order: LabelOrder | None, where: str
) -> LabelSet:
    if isinstance(categories, list):  # names: by position only
        if order == "id":
            raise ConfigError(f"label file {where}: a list of names has no ids to map by")
        if len(categories) != num_classes:
            raise ConfigError(f"label file {where} lists {len(categories)} names, the checkpoint's head "
                              f"has {num_classes} classes: give exactly one name per class")
        return LabelSet(tuple(range(1, num_classes + 1)), tuple(categories), where)
    fits_ids = all(1 <= i <= num_classes for i in categories)
    if order == "id" or (order is None and fits_ids):
        if not fits_ids:
            raise ConfigError(f"label file {where}: --label-order id needs every category id in 1..{num_classes}, "
                              f"found {min(categories)}..{max(categories)}")
        return _by_id(categories, num_classes, where)
    if len(categories) == num_classes:
        return LabelSet(tuple(categories), tuple(categories.values()), where)
    raise ConfigError(
        f"label file {where}: {len(categories)} categories with ids {min(categories)}..{max(categories)} fit "
        f"a {num_classes}-class head neither by id (ids in 1..{num_classes}) nor by position "
        f"(exactly {num_classes} categories)"
    )


def resolve_labels(
    labels: str | Sequence[str] | LabelSet | None, num_classes: int, order: LabelOrder | None = None
) -> LabelSet:
    """The label set of an N-class head.

    Args:
        labels: a label file path/URI, a list of names, a LabelSet, or None (COCO's for 90 classes,
            else `default_labels`).
        order: `id` or `position` to force one mapping (None: by id when every id fits, else
            by position).

    Raises:
        ConfigError: one line, when the labels cannot map onto the head.
    """
    if order not in (None, "id", "position"):
        raise ConfigError(f"unknown label order {order!r}: expected id or position")
    if labels is None:
        return coco_labels() if num_classes == 90 else default_labels(num_classes)
    if isinstance(labels, LabelSet):
        if labels.num_classes != num_classes:
            raise ConfigError(f"label set {labels.source} has {labels.num_classes} classes, "
                              f"the checkpoint's head {num_classes}")
        return labels
    if isinstance(labels, str):
        return _from_categories(_categories(_read(labels), redact(labels)), num_classes, order, redact(labels))
    return _from_categories(_categories(list(labels), "<names>"), num_classes, order, "<names>")
