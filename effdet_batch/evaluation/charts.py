"""The precision-recall chart of an evaluation (PNG)."""
from __future__ import annotations

import numpy as np

from ..plotting import new_figure, png_bytes
from .coco import EvalResult

__all__ = ["precision_recall_png"]


def _mean_curve(precision: np.ndarray) -> np.ndarray:
    """Mean over classes with ground truth of [R, K] precisions (-1 marks a class without)."""
    valid = precision > -1
    counts = valid.sum(axis=1)
    return np.where(counts > 0, np.where(valid, precision, 0).sum(axis=1) / np.maximum(counts, 1), np.nan)


def precision_recall_png(result: EvalResult, title: str) -> bytes:
    """Precision against recall at IoU 0.50, 0.75 and averaged over 0.50:0.95 (all areas, 100
    detections), averaged over classes."""
    fig, ax = new_figure()
    if result.precision is not None:
        p = result.precision[:, :, :, 0, -1]  # [T, R, K]
        recall = result.recall_thresholds
        curves = {
            f"IoU 0.50 (AP50 {result.stats['AP50']:.3f})": _mean_curve(p[0]),
            f"IoU 0.75 (AP75 {result.stats['AP75']:.3f})": _mean_curve(p[5]),
            f"IoU 0.50:0.95 (AP {result.stats['AP']:.3f})": np.nanmean(np.stack([_mean_curve(t) for t in p]), axis=0),
        }
        for label, curve in curves.items():
            ax.plot(recall, curve, label=label)
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no detections to evaluate", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    return png_bytes(fig)
