"""Freed memory returned to the system at once, in the driver and in the Python workers.

Both hold a wave of a batch at a time, in Arrow buffers and in the bytes read from the JVM.
Arrow's own allocator (mimalloc) and glibc's malloc keep freed pages for reuse, and glibc raises
its threshold for mapping a block on its own to the largest block freed so far: after a few
waves, a process kept the resident size of its largest moment, about 130 MB more than its
steady state in a catch-up's driver. With Arrow's buffers taken from malloc and every block of
64 KiB or more mapped on its own, a freed buffer leaves the process (benchmarks/BENCHMARKS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import pyarrow as pa

log = logging.getLogger(__name__)

# glibc's malloc.h: the size from which malloc maps a block on its own; setting it also stops
# glibc from raising it as blocks are freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 << 10

_applied = False


def return_freed_memory() -> None:
    """Once per process: large blocks mapped on their own, Arrow's buffers from malloc. Where
    the C library has no `mallopt` (not glibc), the allocators keep their defaults."""
    global _applied
    if _applied:
        return
    _applied = True
    name = ctypes.util.find_library("c")
    try:
        mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    except OSError:
        mallopt = None
    if mallopt is None or mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        log.debug("no glibc mallopt: the allocators keep their defaults")
        return
    pa.set_memory_pool(pa.system_memory_pool())
