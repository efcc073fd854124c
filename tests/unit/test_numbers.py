"""Numbers from flags and variables (spark_app.common.numbers): finite, in range, named."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from spark_app.common.numbers import (
    NumberError,
    env_number,
    non_negative_float,
    non_negative_int,
    number_arg,
    parse_number,
    positive_int,
)

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", " -Infinity "]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("3", int, 3),
        (" 42 ", int, 42),
        ("-7", int, -7),
        ("2.5", float, 2.5),
        ("1e3", float, 1000.0),
        ("0", float, 0.0),
    ],
)
def test_parse_number_reads_ints_and_floats(
    text: str, kind: type[int] | type[float], expected: float
) -> None:
    value = parse_number(text, kind)
    assert value == expected
    assert type(value) is kind


@pytest.mark.parametrize("text", NOT_FINITE)
def test_nan_and_infinities_are_refused(text: str) -> None:
    with pytest.raises(NumberError, match="must be a finite number"):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("many", float, "must be a number, got 'many'"),
        ("", float, "must be a number"),
        ("1,5", float, "must be a number"),
        ("2.5", int, "must be a whole number, got '2.5'"),
        ("ten", int, "must be a whole number"),
        ("1e3", int, "must be a whole number"),
    ],
)
def test_words_and_wrong_forms_are_refused(
    text: str, kind: type[int] | type[float], message: str
) -> None:
    with pytest.raises(NumberError, match=message):
        parse_number(text, kind)


@pytest.mark.parametrize(
    ("text", "bounds", "message"),
    [
        ("0.5", {"minimum": 1}, "must be >= 1, got '0.5'"),
        ("11", {"maximum": 10}, "must be <= 10, got '11'"),
        ("0", {"above": 0}, "must be > 0, got '0'"),
        ("-0.1", {"above": 0}, "must be > 0"),
    ],
)
def test_out_of_range_is_refused(text: str, bounds: dict[str, float], message: str) -> None:
    with pytest.raises(NumberError, match=message):
        parse_number(text, float, **bounds)


@pytest.mark.parametrize(
    ("text", "bounds"),
    [("1", {"minimum": 1}), ("10", {"maximum": 10}), ("0.001", {"above": 0})],
)
def test_the_bounds_themselves(text: str, bounds: dict[str, float]) -> None:
    assert parse_number(text, float, **bounds) == float(text)


def test_number_arg_is_an_argparse_type() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--multiplier", type=number_arg(float, minimum=1))
    parser.add_argument("--workers", type=number_arg(int, minimum=1, maximum=8))
    args = parser.parse_args(["--multiplier", "1.5", "--workers", "8"])
    assert (args.multiplier, args.workers) == (1.5, 8)
    assert type(args.workers) is int


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--multiplier", "0"], "argument --multiplier: must be >= 1, got '0'"),
        (["--multiplier", "0.99"], "must be >= 1"),
        (["--multiplier", "nan"], "must be a finite number"),
        (["--workers", "9"], "argument --workers: must be <= 8"),
        (["--workers", "two"], "must be a whole number"),
    ],
)
def test_number_arg_refusals_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--multiplier", type=number_arg(float, minimum=1))
    parser.add_argument("--workers", type=number_arg(int, minimum=1, maximum=8))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_number_arg_raises_argument_type_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 1"):
        number_arg(float, minimum=1)("0")


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (positive_int, [("1", 1), ("250", 250)], ["0", "-1", "1.5", "inf", "x"]),
        (non_negative_int, [("0", 0), ("7", 7)], ["-1", "0.5", "nan", "x"]),
        (non_negative_float, [("0", 0.0), ("0.25", 0.25)], ["-0.01", "nan", "inf", "-inf", "x"]),
    ],
)
def test_ready_made_types(
    parse: Callable[[str], float], good: list[tuple[str, float]], bad: list[str]
) -> None:
    assert [parse(text) for text, _ in good] == [value for _, value in good]
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_env_number_default_when_unset_or_blank() -> None:
    assert env_number({}, "SINK_RETRIES", int, 3) == 3
    assert env_number({"SINK_RETRIES": "  "}, "SINK_RETRIES", int, 3) == 3
    assert env_number({"SINK_RETRIES": " 5 "}, "SINK_RETRIES", int, 3) == 5


def test_env_number_keeps_the_kind() -> None:
    value = env_number({"N": "5"}, "N", int, 3)
    assert type(value) is int
    assert env_number({"X": "2.5"}, "X", float, 1.0) == 2.5


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [
        ("nan", {}, "SINK_RETRY_MULTIPLIER must be a finite number, got 'nan'"),
        ("inf", {}, "SINK_RETRY_MULTIPLIER must be a finite number"),
        ("-inf", {}, "SINK_RETRY_MULTIPLIER must be a finite number"),
        ("twice", {}, "SINK_RETRY_MULTIPLIER must be a number, got 'twice'"),
        ("-1", {}, "SINK_RETRY_MULTIPLIER must be >= 0"),
        ("0", {"minimum": 1}, "SINK_RETRY_MULTIPLIER must be >= 1, got '0'"),
        ("0.5", {"minimum": 1}, "SINK_RETRY_MULTIPLIER must be >= 1"),
        ("0", {"above": 0}, "SINK_RETRY_MULTIPLIER must be > 0"),
    ],
)
def test_env_number_errors_name_the_variable(
    value: str, options: dict[str, float], message: str
) -> None:
    with pytest.raises(NumberError, match=f"^{message}"):
        env_number({"SINK_RETRY_MULTIPLIER": value}, "SINK_RETRY_MULTIPLIER", float, 2.0,
                   **options)  # fmt: skip


def test_env_number_minimum_none_allows_negatives() -> None:
    assert env_number({"OFFSET": "-3"}, "OFFSET", int, 0, minimum=None) == -3
