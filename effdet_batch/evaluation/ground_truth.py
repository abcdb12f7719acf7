"""COCO instances JSON from a path or any fsspec URI, checked enough to fail with one line."""
from __future__ import annotations

import json
from typing import Any

from ..errors import ConfigError, first_line
from ..uri import check_scheme, redact

__all__ = ["load_ground_truth"]


def load_ground_truth(uri: str) -> dict[str, Any]:
    """The parsed instances JSON; ConfigError for a missing, unreadable or malformed file."""
    import fsspec

    check_scheme(uri, "annotations file")
    try:
        with fsspec.open(uri, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"annotations file {redact(uri)} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"annotations file {redact(uri)} is not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read annotations file {redact(uri)}: {first_line(exc)}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise ConfigError(f"annotations file {redact(uri)} is not COCO instances JSON "
                          "(expected lists 'images', 'annotations' and 'categories')")
    data.setdefault("annotations", [])
    try:
        for image in data["images"]:
            int(image["id"]), str(image["file_name"])
        for category in data["categories"]:
            int(category["id"]), str(category["name"])
        for ann in data["annotations"]:
            int(ann["image_id"]), int(ann["category_id"]), [float(v) for v in ann["bbox"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"annotations file {redact(uri)} has a malformed entry: {first_line(exc)!s} missing or invalid") from None
    for ann in data["annotations"]:  # pycocotools needs area and iscrowd
        x, y, w, h = ann["bbox"]
        ann.setdefault("area", float(w) * float(h))
        ann.setdefault("iscrowd", 0)
    return data
