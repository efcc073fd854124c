"""Named fault-injection points, inert unless the FAILPOINTS variable turns one on.

`FAILPOINTS="rows-written=sleep(120);chunk-written=sleep(2)"` holds the named points for that
many seconds (so a test can kill the process inside a window); `name=raise` raises there. The
variable is read once; production runs never set it, and a point then costs one dict lookup.
"""

from __future__ import annotations

import logging
import os
import re
import time
from functools import cache

log = logging.getLogger(__name__)

ENV = "FAILPOINTS"
_ACTION = re.compile(r"^(sleep\((\d+(?:\.\d+)?)\)|raise)$")


class FailpointError(RuntimeError):
    """Raised where a failpoint is set to `raise`."""


@cache
def _configured() -> dict[str, str]:
    points: dict[str, str] = {}
    for part in os.environ.get(ENV, "").split(";"):
        name, _, action = part.strip().partition("=")
        if name and _ACTION.match(action.strip()):
            points[name.strip()] = action.strip()
    return points


def failpoint(name: str) -> None:
    """Act as FAILPOINTS says for this point; nothing when it is not named."""
    action = _configured().get(name)
    if action is None:
        return
    match = _ACTION.match(action)
    if match and match.group(2):
        log.warning("failpoint %s: sleeping %s s", name, match.group(2))
        time.sleep(float(match.group(2)))
    else:
        raise FailpointError(f"failpoint {name}")
