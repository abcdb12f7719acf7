"""Matplotlib without a display: a figure to draw on, and its PNG bytes."""
from __future__ import annotations

import io

__all__ = ["new_figure", "png_bytes"]


def new_figure(width: float = 6, height: float = 4.5):
    """A (figure, axes) pair: a `Figure` made directly renders without pyplot or a display, so
    jobs on headless workers need no backend set (and a caller's backend is left alone)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig, fig.add_subplot()


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()
