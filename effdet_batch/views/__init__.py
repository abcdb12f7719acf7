"""Looking at results: static pages (no server, no external URLs) of a job's output, its
evaluation, its relabel churn and the model-selection report's samples, with thumbnails made from
the job's own sources and the boxes drawn over them."""
from .gallery import DEFAULT_MIN_SCORE, write_gallery

__all__ = ["DEFAULT_MIN_SCORE", "write_gallery"]
