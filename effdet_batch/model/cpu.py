"""CPU inference setting: keep freed activation memory in the process heap.

glibc serves large allocations (every activation of a detector at 512+ px) with fresh mmap'd pages
and returns them on free, so each forward pass, and each decode of a large photo, page-faults its
memory in again. Serving them from the heap and never trimming it makes later passes reuse the same
pages (`jobs/benchmark.py` runs with it; its records under benchmarks/results/ say so).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

__all__ = ["keep_freed_memory"]

_logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc malloc to never mmap/trim (process-wide, once). False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        ok = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError, TypeError):
        ok = False
    _logger.debug("glibc malloc tuned for CPU inference: %s", ok)
    return ok
