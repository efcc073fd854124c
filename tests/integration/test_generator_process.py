"""The generator as a real process: `python -m generator` runs, and SIGTERM ends it cleanly
between files."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.generator_files import csv_files, read_rows

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def test_module_runs_as_a_process(tmp_path: Path) -> None:
    out = tmp_path / "drop"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "--files",
            "2",
            "--interval",
            "0",
            "--output-dir",
            str(out),
            "--seed",
            "1",
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    files = csv_files(out)
    assert len(files) == 2
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]
    assert [len(read_rows(p)) for p in files] == [21, 21]
    assert "done: 2 files, 42 events" in result.stderr
    assert result.stdout == ""


def test_sigterm_ends_the_process_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "drop"
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "--interval", "60", "--output-dir", str(out)],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not csv_files(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert csv_files(out), "no file dropped"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    # SIGTERM came during the 60 s wait after the first file (the 10 s `communicate` above would
    # have expired had it waited that out); the run ended there with that one file.
    assert len(csv_files(out)) == 1
    assert "done: 1 files, 21 events" in stderr
    assert "stopped by SIGTERM" in stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [p.name for p in csv_files(out)]
    assert not any(name.startswith(".") or name.endswith(".tmp") for name in names)
    assert all(len(read_rows(p)) == 21 for p in csv_files(out))
