"""One way to read a number from a flag or a variable, for every command line of the project.

NaN and infinities are refused everywhere, and each caller states the range that makes sense.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping


class NumberError(ValueError):
    """A number is missing its form or out of its range; the message says which."""


def parse_number(
    text: str,
    kind: type[int] | type[float] = float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """`text` as a finite int or float within [minimum, maximum] and > above, when given."""
    try:
        value: float = kind(text.strip())
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise NumberError(f"must be {noun}, got {text!r}") from None
    if not math.isfinite(value):
        raise NumberError(f"must be a finite number, got {text!r}")
    if minimum is not None and value < minimum:
        raise NumberError(f"must be >= {minimum:g}, got {text!r}")
    if maximum is not None and value > maximum:
        raise NumberError(f"must be <= {maximum:g}, got {text!r}")
    if above is not None and value <= above:
        raise NumberError(f"must be > {above:g}, got {text!r}")
    return value


def number_arg(
    kind: type[int] | type[float] = float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> Callable[[str], float]:
    """An argparse `type=` for numbers of this kind and range."""

    def parse(text: str) -> float:
        try:
            value = parse_number(text, kind, minimum=minimum, maximum=maximum, above=above)
        except NumberError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return int(value) if kind is int else value

    parse.__name__ = kind.__name__
    return parse


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return int(number_arg(int, minimum=1)(text))


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return int(number_arg(int, minimum=0)(text))


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return number_arg(float, minimum=0)(text)


def env_number(
    environ: Mapping[str, str],
    key: str,
    kind: type[int] | type[float],
    default: float,
    *,
    minimum: float | None = 0,
    above: float | None = None,
) -> float:
    """A number from the environment (the default when unset); errors name the variable."""
    text = environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = parse_number(text, kind, minimum=minimum, above=above)
    except NumberError as exc:
        raise NumberError(f"{key} {exc}") from None
    return int(value) if kind is int else value
