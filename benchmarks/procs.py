"""Running the real commands and sampling their memory."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


class PeakRss:
    """Samples the resident memory of a process and its descendants (JVM + Python driver)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak_mb = 0.0
        self.last_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._sample()
            if value:
                self.last_mb = value
                self.peak_mb = max(self.peak_mb, value)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a command from the repository root, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def run(command: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[float, float]:
    """Run a command to the end; returns (seconds, peak RSS MB of its process tree)."""
    started = time.monotonic()
    process = start(command, env, log)
    with PeakRss(process.pid) as rss:
        code = process.wait(timeout)
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command[:3])} exited {code}:\n{tail}")
    return time.monotonic() - started, rss.peak_mb
