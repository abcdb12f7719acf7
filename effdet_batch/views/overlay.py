"""Boxes drawn over a thumbnail as absolutely positioned elements, placed in percent of the
labelled image's size, so they sit right at whatever size the thumbnail is shown. The image and
its boxes together are a card."""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .thumbnails import Thumbnail, thumbnail_size

__all__ = ["Box", "card"]


@dataclass(frozen=True)
class Box:
    """x1, y1, x2, y2 in the labelled image's displayed pixels. `kind`: CSS classes naming its
    style (`pred`, `gt missed`, `kept`...). `score`: None for ground truth, which the score filter
    leaves alone."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    kind: str = "pred"
    score: float | None = None

    def html(self, width: int, height: int) -> str:
        left, top = 100 * self.x1 / width, 100 * self.y1 / height
        w, h = 100 * (self.x2 - self.x1) / width, 100 * (self.y2 - self.y1) / height
        score = f' data-score="{self.score!r}"' if self.score is not None else ""
        tag = self.label if self.score is None else f"{self.label} {self.score:.2f}"
        return (f'<div class="box {self.kind}" data-label="{html.escape(self.label, quote=True)}"{score} '
                f'style="left:{left:.4f}%;top:{top:.4f}%;width:{w:.4f}%;height:{h:.4f}%">'
                f'<span class="tag">{html.escape(tag)}</span></div>')


def card(image_id: str, size: tuple[int, int], picture: Thumbnail | str, boxes: Iterable[Box],
         caption: Sequence[str] = ()) -> str:
    """A figure of the image (`size`: the labelled width and height) with `boxes` over it.
    `picture` is its thumbnail, or why there is none (shown in its place, boxes still drawn)."""
    width, height = size
    if isinstance(picture, Thumbnail):
        w, h = picture.width, picture.height
        inner = f'<img src="{html.escape(picture.name, quote=True)}" width="{w}" height="{h}" alt="">'
    else:
        w, h = thumbnail_size(width, height)
        inner = f'<div class="unavailable">{html.escape(picture)}</div>'
    drawn = "".join(b.html(width, height) for b in boxes)
    if isinstance(picture, Thumbnail) and picture.size != size:
        caption = [*caption, f"the source is {picture.size[0]}x{picture.size[1]} now; it was {width}x{height} "
                             "when labelled"]
    lines = "<br>".join(html.escape(line) for line in caption)
    return (f'<figure class="card" data-image-id="{html.escape(image_id, quote=True)}">'
            f'<div class="frame" style="width:{w}px;height:{h}px">{inner}{drawn}</div>'
            f"<figcaption>{lines}</figcaption></figure>")
