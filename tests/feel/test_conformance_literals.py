"""FEEL conformance: literals, numbers (decimal semantics), strings and escapes, output types."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from tests.feel.conftest import UTC, Case, cases, check, tz, ym

NUMBERS: list[Case] = [
    ("1", None, 1),
    ("0", None, 0),
    ("-5", None, -5),
    ("2.3", None, 2.3),
    (".4", None, 0.4),
    ("0.5", None, 0.5),
    ("-0.5", None, -0.5),
    ("1.0", None, 1),
    ("- 5", None, -5),
    ("123456789012345678901234567890", None, 123456789012345678901234567890),
    ("1.23456789012345678901", None, Decimal("1.23456789012345678901")),
    ("2 + 3", None, 5),
    ("5 - 3", None, 2),
    ("3 - 5", None, -2),
    ("5 * 3", None, 15),
    ("6 / 2", None, 3),
    ("10 / 4", None, 2.5),
    ("7 / 8", None, 0.875),
    ("1 / 8", None, 0.125),
    ("2 ** 3", None, 8),
    ("2 ** 0", None, 1),
    ("10 ** 2", None, 100),
    ("1.5 ** 2", None, 2.25),
    ("2 ** 100", None, 1267650600228229401496703205376),
    ("0.1 + 0.2", None, 0.3),
    ("0.1 + 0.2 = 0.3", None, True),
    ("0.3 - 0.1", None, 0.2),
    ("0.1 * 3", None, 0.3),
    ("3 * 0.1", None, 0.3),
    ("1.1 + 2.2", None, 3.3),
    ("1.1 + 2.2 = 3.3", None, True),
    ("1.1 * 1.1", None, 1.21),
    ("3.3 / 1.1", None, 3),
    ("0.07 * 100", None, 7),
    ("100 * 1.1", None, 110),
    ("1.005 * 1000", None, 1005),
    ("19.99 + 0.01", None, 20),
    ("12.50 * 2", None, 25),
    ("0.5 + 0.5", None, 1),
    ("1 / 3", None, Decimal("0.3333333333333333333333333333333333")),
    ("2 / 3", None, Decimal("0.6666666666666666666666666666666667")),
    ("1 / 3 * 3", None, Decimal("0.9999999999999999999999999999999999")),
    ("1 + 2 * 3", None, 7),
    ("(1 + 2) * 3", None, 9),
    ("10 - 2 - 3", None, 5),
    ("100 / 10 / 2", None, 5),
    ("2 * 3 ** 2", None, 18),
    ("-2 + 5", None, 3),
    ("-(2 + 3)", None, -5),
    ("1 - -1", None, 2),
    ("10 - 10", None, 0),
    ("1 + 2 + 3 + 4", None, 10),
    ("(((1)))", None, 1),
    ("1000000 * 1000000", None, 1000000000000),
    ("99999999999999999999 + 1", None, 100000000000000000000),
    ("0.000001 * 1000000", None, 1),
    ("1 = 1.0", None, True),
    ("1.10 = 1.1", None, True),
    ("1 / 0", None, None),
    ("0 / 0", None, None),
    ("5 / 0.0", None, None),
    ("1 +\n 2", None, 3),
    ("\t1\r\n+ 2 ", None, 3),
    ("1 + /* a comment */ 2", None, 3),
    ("1 + 2 // a line comment", None, 3),
]

STRINGS: list[Case] = [
    ('"foo"', None, "foo"),
    ('""', None, ""),
    ('"with space"', None, "with space"),
    (r'"a\"b"', None, 'a"b'),
    (r'"line\nbreak"', None, "line\nbreak"),
    (r'"tab\there"', None, "tab\there"),
    (r'"cr\r"', None, "cr\r"),
    (r'"back\\slash"', None, "back\\slash"),
    (r'"it\'s"', None, "it's"),
    (r'"\u0041BC"', None, "ABC"),
    (r'"\u269D"', None, "\u269d"),
    ('"日本語"', None, "日本語"),
    ('"emoji 😀"', None, "emoji 😀"),
    ('"a,b"', None, "a,b"),
    ('"[1..2]"', None, "[1..2]"),
    ('"if then else"', None, "if then else"),
    ('"// not a comment"', None, "// not a comment"),
    ('"foo" + "bar"', None, "foobar"),
    ('"a" + "b" + "c"', None, "abc"),
    ('"" + ""', None, ""),
    ('"x" + ""', None, "x"),
    ('"order-" + string(123)', None, "order-123"),
    ('"foo" = "foo"', None, True),
    ('"foo" = "Foo"', None, False),
    ('"foo" != "bar"', None, True),
    ('"a" < "b"', None, True),
    ('"abc" > "abd"', None, False),
    (r'string length("a\nb")', None, 3),
    (r'"\"quoted\""', None, '"quoted"'),
    ('greeting + ", " + name', {"greeting": "Hello", "name": "Ada"}, "Hello, Ada"),
]

BOOLEANS_AND_NULL: list[Case] = [
    ("true", None, True),
    ("false", None, False),
    ("null", None, None),
    ("not(true)", None, False),
    ("not(false)", None, True),
    ("true = true", None, True),
    ("true = false", None, False),
    ("true != false", None, True),
    ("null = null", None, True),
    ("(null)", None, None),
    ("[true, false, null]", None, [True, False, None]),
]

LEADING_EQUALS: list[Case] = [
    ("=1 + 1", None, 2),
    ("= 1 + 1", None, 2),
    (
        '="https://api.example.com/orders/" + string(orderId)',
        {"orderId": 42},
        "https://api.example.com/orders/42",
    ),
    ("=body.status", {"body": {"status": "OK"}}, "OK"),
    ('={"Accept": "application/json"}', None, {"Accept": "application/json"}),
]

# FEEL's whitespace includes three invisible format characters that are not Unicode spaces:
# U+180E (Mongolian vowel separator), U+200B (zero width space), U+FEFF (byte order mark).
# Anywhere a blank may stand, each of them may stand instead.
_ZWSP, _MVS, _BOM = "\u200b", "\u180e", "\ufeff"
INVISIBLE_WHITESPACE: list[Case] = [
    (f"{_BOM}7", None, 7),
    (f"7{_ZWSP}", None, 7),
    (f"2{_MVS}*{_MVS}4", None, 8),
    (f"{_ZWSP}price{_ZWSP}>{_ZWSP}10", {"price": 12}, True),
    (f"{{{_BOM}total{_ZWSP}: 5{_MVS}}}", None, {"total": 5}),
    (f"{{a:{_ZWSP}1}}.a", None, 1),
    (f"if{_ZWSP}ok{_ZWSP}then{_ZWSP}1{_ZWSP}else{_ZWSP}0", {"ok": True}, 1),
    (f"for{_MVS}i{_MVS}in{_MVS}[2, 3]{_MVS}return{_MVS}i * i", None, [4, 9]),
    (f"every{_BOM}n{_BOM}in{_BOM}[2, 4]{_BOM}satisfies{_BOM}even(n)", None, True),
    (f"some n in [1, 2]{_ZWSP}satisfies{_ZWSP}n > 1", None, True),
    (f'string{_ZWSP}length("abc")', None, 3),  # a name of several words
    (f"x{_ZWSP}instance{_ZWSP}of{_ZWSP}number", {"x": 1}, True),
    (f"`a{_ZWSP}b`", {f"a{_ZWSP}b": 4}, 4),  # kept inside a backtick name
    (f'"{_ZWSP}"', None, _ZWSP),  # and inside a string
]

INPUT_VALUES: list[Case] = [
    ("x + 0.2", {"x": 0.1}, 0.3),
    ("x = 0.1", {"x": 0.1}, True),
    ("x * 3", {"x": 0.1}, 0.3),
    ("x * 2", {"x": Decimal("1.25")}, 2.5),
    ("x + 1", {"x": 2**80}, 2**80 + 1),
    ("x", {"x": 1.5}, 1.5),
    ("x", {"x": 3}, 3),
    ("x > 1", {"x": 2.0}, True),
    ("b = true", {"b": True}, True),
    ("b + 1", {"b": True}, None),
    ("x", {"x": [1, 2.5, "a", None, True]}, [1, 2.5, "a", None, True]),
    ("x", {"x": {"a": {"b": [1, {"c": None}]}}}, {"a": {"b": [1, {"c": None}]}}),
    ("x.y[2]", {"x": {"y": [10, 20]}}, 20),
    ("count(x)", {"x": [1, 2, 3]}, 3),
    ("string(x)", {"x": 1.5}, "1.5"),
    ("string(x)", {"x": 12}, "12"),
    ('s + "!"', {"s": "hi"}, "hi!"),
    ('d + duration("P1D")', {"d": dt.date(2024, 2, 28)}, dt.date(2024, 2, 29)),
    ("d.year", {"d": dt.date(2024, 2, 28)}, 2024),
    ("t.hour", {"t": dt.time(13, 45)}, 13),
    ("x.month", {"x": dt.datetime(2024, 5, 6, 7, 8, 9)}, 5),
    ("x.hour", {"x": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)}, 7),
    ("d * 2", {"d": dt.timedelta(hours=3)}, dt.timedelta(hours=6)),
    ("d.days", {"d": dt.timedelta(days=2, hours=3)}, 2),
    ("p.years", {"p": ym(1, 2)}, 1),
    ('p + duration("P10M")', {"p": ym(1, 2)}, ym(2, 0)),
    ("d instance of date", {"d": dt.date(2024, 1, 1)}, True),
    ("x instance of date and time", {"x": dt.datetime(2024, 1, 1, tzinfo=UTC)}, True),
    ("d instance of days and time duration", {"d": dt.timedelta(minutes=5)}, True),
    ("p instance of years and months duration", {"p": ym(0, 5)}, True),
    ('d = date("2024-01-01")', {"d": dt.date(2024, 1, 1)}, True),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(NUMBERS))
def test_numbers(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(STRINGS))
def test_strings(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(BOOLEANS_AND_NULL))
def test_booleans_and_null(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(LEADING_EQUALS))
def test_leading_equals_is_stripped(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(INVISIBLE_WHITESPACE))
def test_invisible_whitespace(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(INPUT_VALUES))
def test_input_values(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


# (expression, exact Python type of the result, value)
OUTPUT_TYPES: list[tuple[str, type, Any]] = [
    ("1.0", int, 1),
    ("42", int, 42),
    ("-3", int, -3),
    ("2.50", float, 2.5),
    ("-7.25", float, -7.25),
    ("0.1 + 0.2", float, 0.3),
    ("10 / 4", float, 2.5),
    ("6 / 3", int, 2),
    ("10000000000000000000000", int, 10000000000000000000000),
    ("1 / 3", Decimal, Decimal("0.3333333333333333333333333333333333")),
    ("123456789.123456789123", Decimal, Decimal("123456789.123456789123")),
    ('"x"', str, "x"),
    ("true", bool, True),
    ("null", type(None), None),
    ("[1, 2]", list, [1, 2]),
    ("{a: 1}", dict, {"a": 1}),
    ('date("2024-01-01")', dt.date, dt.date(2024, 1, 1)),
    ('time("10:20:30")', dt.time, dt.time(10, 20, 30)),
    ('date and time("2024-01-01T10:20:30")', dt.datetime, dt.datetime(2024, 1, 1, 10, 20, 30)),
    ('duration("P1DT2H")', dt.timedelta, dt.timedelta(days=1, hours=2)),
]


@pytest.mark.parametrize(("expression", "kind", "value"), OUTPUT_TYPES)
def test_output_types(expression: str, kind: type, value: Any) -> None:
    from connector import feel

    result = feel.evaluate(expression, {})
    assert type(result) is kind, f"{expression!r} gave {result!r} ({type(result).__name__})"
    assert result == value


def test_nested_numbers_are_converted_too() -> None:
    from connector import feel

    result = feel.evaluate("{a: [1.0, 1/4, 1/3], b: {c: 2.000}}", {})
    assert [type(item) for item in result["a"]] == [int, float, Decimal]
    assert result["a"][:2] == [1, 0.25]
    assert type(result["b"]["c"]) is int and result["b"]["c"] == 2


def test_years_months_duration_output() -> None:
    from connector import feel
    from connector.feel.values import YearsMonthsDuration

    result = feel.evaluate('duration("P1Y2M")', {})
    assert isinstance(result, YearsMonthsDuration)
    assert result.months == 14


def test_zoned_outputs_are_aware() -> None:
    from connector import feel

    with_offset = feel.evaluate('date and time("2024-01-01T10:00:00+02:00")', {})
    assert with_offset.utcoffset() == dt.timedelta(hours=2)
    utc = feel.evaluate('date and time("2024-01-01T10:00:00Z")', {})
    assert utc.utcoffset() == dt.timedelta(0)
    zoned = feel.evaluate('date and time("2024-07-01T10:00:00@Europe/Berlin")', {})
    assert zoned.utcoffset() == dt.timedelta(hours=2)
    assert getattr(zoned.tzinfo, "key", None) == "Europe/Berlin"
    local = feel.evaluate('date and time("2024-01-01T10:00:00")', {})
    assert local.tzinfo is None
    offset_time = feel.evaluate('time("08:30:00-05:00")', {})
    assert offset_time == dt.time(8, 30, tzinfo=tz(-5))


def test_json_results_serialise_without_loss() -> None:
    from connector import feel

    result = feel.evaluate(
        '{url: "https://x/" + string(id), n: id * 2, ok: id > 1, tags: ["a", null], r: 0.5}',
        {"id": 21},
    )
    assert json.loads(json.dumps(result)) == {
        "url": "https://x/21",
        "n": 42,
        "ok": True,
        "tags": ["a", None],
        "r": 0.5,
    }
