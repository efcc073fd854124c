"""A process that frees a wave's buffers gives their memory back to the system."""

from __future__ import annotations

import os
import platform

import numpy as np
import pyarrow as pa
import pytest

from spark_app.common.memory import return_freed_memory

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt and /proc/self/statm are glibc's and Linux's",
)

BLOCK = 512 << 10
BLOCKS = 256  # 128 MiB held at once, like a wave's Arrow columns
PAGE = os.sysconf("SC_PAGE_SIZE")


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def test_arrow_buffers_freed_leave_the_process() -> None:
    return_freed_memory()
    assert pa.default_memory_pool().backend_name == "system"
    freed_first = bytearray(4 << 20)  # glibc would raise its mapping threshold past this
    del freed_first
    before = _resident_mb()
    held = []
    for _ in range(BLOCKS):
        buffer = pa.allocate_buffer(BLOCK)
        np.frombuffer(buffer, dtype=np.uint8)[::PAGE] = 1  # every page touched: resident
        held.append(buffer)
    assert _resident_mb() - before >= 0.9 * BLOCK * BLOCKS / 2**20
    held.clear()
    assert _resident_mb() - before < 16
