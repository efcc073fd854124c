"""Running the real commands (spark-submit, the generator, psql) and sampling their memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import psutil

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


class CommandError(RuntimeError):
    """A command the benchmark ran exited with an error; the message ends with its log's tail."""


def base_env(environ: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """The environment of every command: the venv first on PATH, no SPARK_HOME, no database
    variables of the caller (each command gets its own account's), run records kept apart."""
    env = {
        key: value
        for key, value in environ.items()
        if not key.startswith(("MYSQL_", "PG")) and key not in ("SPARK_HOME", "INGEST_SINK")
    }
    venv = VENV_BIN if VENV_BIN.is_dir() else Path(sys.executable).parent
    env["PATH"] = str(venv) + os.pathsep + env.get("PATH", "")
    # The job appends its run record to this file; the repository's runs/ stays untouched.
    env["RUN_HISTORY_FILE"] = str(workdir / "runs" / "history.json")
    return env


def which(name: str, env: Mapping[str, str]) -> str:
    """The full path of a program on the environment's PATH."""
    found = shutil.which(name, path=env.get("PATH"))
    if found is None:
        raise CommandError(f"{name} not found on PATH ({env.get('PATH')})")
    return found


def part_of(process: psutil.Process) -> str:
    """Which part of the stream's process tree a process is."""
    if process.name() == "java":
        return "jvm"
    if "pyspark.daemon" in " ".join(process.cmdline()):
        return "python workers"
    return "python driver" if "python" in process.name() else "other"


def _unexeced_clone(process: psutil.Process) -> bool:
    """A JVM's child that is still the JVM: the moment between the clone and the exec of a
    command it runs (a shell command of Hadoop's local file system), named after the thread
    that started it. It shares its parent's memory, so its RSS is the JVM's counted a second
    time, not memory of its own."""
    parent = process.parent()
    return parent is not None and parent.name() == "java" and process.cmdline() == parent.cmdline()


class PeakRss:
    """Samples the resident memory of a process and its descendants (JVM + Python driver)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak_mb = 0.0
        self.last_mb = 0.0
        # At the peak: MB per part of the tree (jvm, python driver, python workers).
        self.peak_parts_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[str, float]:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return {}
        parts: dict[str, float] = {}
        for process in processes:
            try:
                if _unexeced_clone(process):
                    continue
                rss = process.memory_info().rss / 2**20
                part = part_of(process)
            except psutil.Error:
                continue
            parts[part] = parts.get(part, 0.0) + rss
        return parts

    def _run(self) -> None:
        while not self._stop.is_set():
            parts = self._sample()
            value = sum(parts.values())
            if value:
                self.last_mb = value
                if value > self.peak_mb:
                    self.peak_mb = value
                    self.peak_parts_mb = {k: round(v) for k, v in sorted(parts.items())}
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a command from the repository root, its output appended to `log`."""
    program = command[0] if os.sep in command[0] else which(command[0], env)
    with log.open("ab") as out:
        return subprocess.Popen(
            [program, *command[1:]],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _failed(command: list[str], code: int, log: Path) -> CommandError:
    tail = log.read_text(errors="replace")[-3000:]
    return CommandError(f"{' '.join(command[:3])} ... exited {code}; end of {log}:\n{tail}")


class Finished(NamedTuple):
    """A command run to its end: its time and its process tree's peak RSS (MB), by part."""

    seconds: float
    peak_mb: float
    peak_parts_mb: dict[str, float]


def run(command: list[str], env: Mapping[str, str], log: Path, timeout: float) -> Finished:
    """Run a command to its end; its time and the peak RSS of its process tree."""
    started = time.monotonic()
    process = start(command, env, log)
    with PeakRss(process.pid) as rss:
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            raise CommandError(f"{command[0]} did not finish in {timeout:.0f} s") from None
    if code != 0:
        raise _failed(command, code, log)
    return Finished(time.monotonic() - started, rss.peak_mb, rss.peak_parts_mb)


def stop(process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """SIGTERM (a clean stop of the stream), then SIGKILL of its session if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def spark_submit(script: str, args: list[str], jars: list[Path] | None = None) -> list[str]:
    """`spark-submit [--jars J --driver-class-path J] script args` (no spark-defaults.conf)."""
    command = ["spark-submit"]
    if jars:
        joined = ",".join(str(jar) for jar in jars)
        command += ["--jars", joined, "--driver-class-path", os.pathsep.join(map(str, jars))]
    return [*command, script, *args]
