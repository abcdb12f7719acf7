"""Matplotlib without a display: a figure to draw on, and its PNG bytes."""
from __future__ import annotations

import io

__all__ = ["new_figure", "png_bytes"]


def new_figure(width: float = 6, height: float = 4.5):
    """A (figure, axes) pair on the Agg backend: jobs run on headless workers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig, fig.add_subplot()


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()
