"""Files that appear complete or not at all (the generator's drops, the run history)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def _temp_name(name: str) -> str:
    # Hidden and not ending in ".csv", so the stream skips it; unique, so a temporary file
    # left by a crash never blocks a later write of the same name.
    return f".{name}.{secrets.token_hex(4)}.tmp"


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable; skipped where a folder cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: Path, data: str | Callable[[TextIO], object]) -> Path:
    """Write UTF-8 text to `path` so that readers see the old file or the whole new one.

    `data` is the text, or a function that writes it (streamed, never held whole). The text
    goes to a hidden temporary file in the same folder, is fsynced, renamed over `path`, and
    the folder is fsynced. A file replaced keeps its permissions; a new one gets the umask's.
    """
    temp = path.with_name(_temp_name(path.name))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    out = open(fd, "w", encoding="utf-8", newline="")
    try:
        with out:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, path.stat().st_mode & 0o7777)
            if isinstance(data, str):
                out.write(data)
            else:
                data(out)
            out.flush()
            os.fsync(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path
