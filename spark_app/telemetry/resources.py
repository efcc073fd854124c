"""Resources of the Spark driver, sampled with psutil: the Python driver plus its JVM.

Under spark-submit the JVM starts first and runs the Python driver as its child; when the app
runs as plain `python spark_app/main.py`, PySpark starts the JVM as a child of Python. Either
way both processes are measured together. CPU is given as a share of all the machine's cores
(0-100), memory as resident set size (RSS), disk as bytes read and written by those processes
(/proc/PID/io) or, where the OS does not tell, by the whole machine.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import sys
import threading
from dataclasses import dataclass, field

import psutil

from spark_app.runhistory.record import (
    CpuMetrics,
    DiskMetrics,
    Environment,
    MemoryMetrics,
    ResourceMetrics,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024


def _is_jvm(process: psutil.Process) -> bool:
    try:
        return "java" in process.name().lower()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def driver_processes(me: psutil.Process | None = None) -> list[psutil.Process]:
    """This Python process and the JVM next to it (its parent, or else a child)."""
    me = me or psutil.Process()
    found = [me]
    parent = me.parent()
    if parent is not None and _is_jvm(parent):
        found.append(parent)
        return found
    try:
        children = me.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        children = []
    found.extend(child for child in children if _is_jvm(child))
    return found


@dataclass
class _IoBaseline:
    """Disk counters at the start, per process or for the whole machine."""

    per_process: dict[int, tuple[int, int]] = field(default_factory=dict)
    system: tuple[int, int] | None = None


def _process_io(process: psutil.Process) -> tuple[int, int] | None:
    try:
        counters = process.io_counters()
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError, NotImplementedError):
        return None
    return int(counters.read_bytes), int(counters.write_bytes)


def _system_io() -> tuple[int, int]:
    counters = psutil.disk_io_counters()
    if counters is None:
        return 0, 0
    return int(counters.read_bytes), int(counters.write_bytes)


class ResourceSampler:
    """Samples CPU and memory of the driver processes; keeps the peak and the running mean."""

    def __init__(self, processes: list[psutil.Process] | None = None) -> None:
        self.processes = processes if processes is not None else driver_processes()
        self.cores = psutil.cpu_count() or 1
        self._lock = threading.Lock()
        self._samples = 0
        self._cpu_sum = self._cpu_peak = 0.0
        self._mem_sum = self._mem_peak = 0.0
        self._io = _IoBaseline()
        self._io_last: dict[int, tuple[int, int]] = {}
        for process in self.processes:
            counters = _process_io(process)
            if counters is None:
                self._io = _IoBaseline(system=_system_io())
                break
            self._io.per_process[process.pid] = counters
        for process in self.processes:
            try:
                process.cpu_percent(None)  # the first call only starts the measurement
            except psutil.NoSuchProcess:
                pass
        scope = "the whole machine" if self._io.system is not None else "the driver processes"
        log.debug("sampling pids %s; disk I/O of %s", [p.pid for p in self.processes], scope)

    def sample(self) -> None:
        """Take one sample (CPU since the previous sample, memory now)."""
        cpu = memory = 0.0
        for process in self.processes:
            try:
                with process.oneshot():
                    cpu += process.cpu_percent(None)
                    memory += process.memory_info().rss / MB
                    counters = _process_io(process) if self._io.system is None else None
            except psutil.NoSuchProcess:
                continue
            if counters is not None:
                self._io_last[process.pid] = counters
        share = min(cpu / self.cores, 100.0)
        with self._lock:
            self._samples += 1
            self._cpu_sum += share
            self._cpu_peak = max(self._cpu_peak, share)
            self._mem_sum += memory
            self._mem_peak = max(self._mem_peak, memory)

    def _disk_mb(self) -> tuple[float, float]:
        if self._io.system is not None:
            now = _system_io()
            return (now[0] - self._io.system[0]) / MB, (now[1] - self._io.system[1]) / MB
        read = write = 0
        for pid, (read0, write0) in self._io.per_process.items():
            read1, write1 = self._io_last.get(pid, (read0, write0))
            read, write = read + read1 - read0, write + write1 - write0
        return read / MB, write / MB

    def summary(self) -> ResourceMetrics:
        """Peak and mean of the samples so far, and the disk traffic since the start."""
        with self._lock:
            samples = max(self._samples, 1)
            cpu_avg, mem_avg = self._cpu_sum / samples, self._mem_sum / samples
            cpu_peak, mem_peak = self._cpu_peak, self._mem_peak
        read, write = self._disk_mb()
        return ResourceMetrics(
            cpu=CpuMetrics(peak_percent=round(cpu_peak, 1), avg_percent=round(cpu_avg, 1)),
            memory=MemoryMetrics(peak_mb=round(mem_peak, 1), avg_mb=round(mem_avg, 1)),
            disk=DiskMetrics(read_mb=round(max(read, 0), 1), write_mb=round(max(write, 0), 1)),
        )


def environment() -> Environment:
    """The machine and interpreter the run is on."""
    return Environment(
        python_version=platform.python_version(),
        hostname=socket.gethostname(),
        os=sys.platform,
        os_version=platform.release(),
        cpu_cores=os.cpu_count() or 1,
        total_memory_mb=int(psutil.virtual_memory().total // MB),
    )
