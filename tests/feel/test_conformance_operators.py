"""FEEL conformance: comparisons, three-valued logic, between, in, instance of, null semantics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.feel.conftest import Case, cases, check

COMPARISONS: list[Case] = [
    ("5 = 5", None, True),
    ("5 != 5", None, False),
    ("5 != 6", None, True),
    ("1 < 2", None, True),
    ("2 < 1", None, False),
    ("2 <= 2", None, True),
    ("3 <= 2", None, False),
    ("3 > 2", None, True),
    ("2 > 3", None, False),
    ("2 >= 2", None, True),
    ("1 >= 2", None, False),
    ("-1 < 0", None, True),
    ("0.1 < 0.2", None, True),
    ("10 > 9.99", None, True),
    ("1 + 1 = 2", None, True),
    ("2 * 3 > 5", None, True),
    ('date("2020-04-05") < date("2020-04-06")', None, True),
    ('time("08:00:00") <= time("08:00:00")', None, True),
    ('duration("P1D") > duration("P5D")', None, False),
    ('duration("P1Y") >= duration("P6M")', None, True),
    ('body.status = "OK"', {"body": {"status": "OK"}}, True),
    ('body.status = "OK"', {"body": {"status": "FAILED"}}, False),
    ("body.stockLevel < 10", {"body": {"stockLevel": 3}}, True),
    ("body.stockLevel < 10", {"body": {"stockLevel": 30}}, False),
    ('(body.status = "OK")', {"body": {"status": "OK"}}, True),
    ("true = true", None, True),
    ("false != true", None, True),
    ('"a" = "a"', None, True),
    ('1 = "1"', None, None),
    ('"1" = 1', None, None),
    ("true = 1", None, None),
    ('1 < "2"', None, None),
    ('"a" > 1', None, None),
    ("true < false", None, None),
    ('date("2020-01-01") = "2020-01-01"', None, None),
    ('date("2020-01-01") < 5', None, None),
    ("{a: 1} < {a: 2}", None, None),
    ("null = null", None, True),
    ('"foo" = null', None, False),
    ("null = 1", None, False),
    ("1 != null", None, True),
    ("null != null", None, False),
    ("{x: null}.x = null", None, True),
    ("{}.y = null", None, True),
    ("missing = null", {}, True),
    ("a != null and a.b > 10", {}, False),
    ("a != null and a.b > 10", {"a": {"b": 20}}, True),
    ("null < 1", None, None),
    ("1 > null", None, None),
    ("null <= null", None, None),
    ("x > 5", {}, None),
    ("x > 5", {"x": None}, None),
]

LOGIC: list[Case] = [
    ("true and true", None, True),
    ("true and false", None, False),
    ("false and true", None, False),
    ("false and false", None, False),
    ("true and null", None, None),
    ("null and true", None, None),
    ('true and "otherwise"', None, None),
    ("false and null", None, False),
    ("null and false", None, False),
    ('false and "otherwise"', None, False),
    ('"otherwise" and false', None, False),
    ("true or false", None, True),
    ("false or true", None, True),
    ("false or false", None, False),
    ("true or true", None, True),
    ("true or null", None, True),
    ("null or true", None, True),
    ('true or "otherwise"', None, True),
    ("false or null", None, None),
    ("null or false", None, None),
    ('false or "otherwise"', None, None),
    ("null or null", None, None),
    ("null and null", None, None),
    ("not(true)", None, False),
    ("not(null)", None, None),
    ('not("x")', None, None),
    ("not(1 > 2)", None, True),
    ("true and true and false", None, False),
    ("false or false or true", None, True),
    ("true or false and false", None, True),
    ("(true or false) and false", None, False),
    ("1 < 2 and 2 < 3", None, True),
    ("1 < 2 and 3 < 2", None, False),
    ("1 > 2 or 3 > 2", None, True),
    ("x > 1 and x < 10", {"x": 5}, True),
    ("x > 1 and x < 10", {"x": 50}, False),
    ("x > 1 and x < 10", {}, None),
    ("x = null or x > 1", {}, True),
    ("flag or x > 1", {"flag": True}, True),
    ("flag and x > 1", {"flag": False}, False),
    ("a and b", {"a": True, "b": True}, True),
    ("a or b", {"a": False, "b": None}, None),
    ("1 and true", None, None),
]

BETWEEN: list[Case] = [
    ("5 between 3 and 7", None, True),
    ("3 between 3 and 7", None, True),
    ("7 between 3 and 7", None, True),
    ("2 between 3 and 7", None, False),
    ("8 between 3 and 7", None, False),
    ("5.5 between 5 and 6", None, True),
    ('date("2020-04-06") between date("2020-04-05") and date("2020-04-09")', None, True),
    ('date("2020-04-10") between date("2020-04-05") and date("2020-04-09")', None, False),
    ('time("10:00:00") between time("09:00:00") and time("17:00:00")', None, True),
    ('duration("PT2H") between duration("PT1H") and duration("PT3H")', None, True),
    ("x between lo and hi", {"x": 4, "lo": 1, "hi": 9}, True),
    ("x between 1 and 10", {}, None),
    ("5 between 1 + 1 and 2 * 3", None, True),
    ("(5 between 1 and 10) = true", None, True),
    ('5 between "a" and "c"', None, None),
]

IN: list[Case] = [
    ("5 in (3,5,7)", None, True),
    ("4 in (3,5,7)", None, False),
    ("5 in [2,4,6,8]", None, False),
    ("4 in [2,4,6,8]", None, True),
    ("5 in (3..7)", None, True),
    ("5 in [5..10]", None, True),
    ('"b" in ["a", "b"]', None, True),
    ('"z" in ["a", "b"]', None, False),
    ("x in [1, 2, 3]", {"x": 2}, True),
    ("x in allowed", {"x": 2, "allowed": [1, 2, 3]}, True),
    ("x in allowed", {"x": 9, "allowed": [1, 2, 3]}, False),
    ("5 in (< 10)", None, True),
    ("5 in (> 10)", None, False),
    ("5 in (<= 5)", None, True),
    ("5 in (>= 6)", None, False),
    ("5 in (< 3, > 4)", None, True),
    ("5 in (< 3, > 6)", None, False),
    ("5 in 5", None, True),
    ("5 in 6", None, False),
    ('"OK" in ("OK", "ACCEPTED")', None, True),
    ('"FAILED" in ("OK", "ACCEPTED")', None, False),
    ('status in ("OK", "ACCEPTED")', {"status": "ACCEPTED"}, True),
    ('date("2024-01-15") in [date("2024-01-01")..date("2024-01-31")]', None, True),
    ("[1,2] in [[1,2], [3]]", None, True),
]

INSTANCE_OF: list[Case] = [
    ("1 instance of number", None, True),
    ("1 instance of string", None, False),
    ("1 instance of Any", None, True),
    ("null instance of Any", None, False),
    ('"a" instance of string', None, True),
    ('"a" instance of number', None, False),
    ("true instance of boolean", None, True),
    ("false instance of boolean", None, True),
    ("[1] instance of list", None, True),
    ("[] instance of list", None, True),
    ("[1] instance of context", None, False),
    ("{a: 1} instance of context", None, True),
    ("{} instance of context", None, True),
    ("{a: 1} instance of list", None, False),
    ('date("2024-01-01") instance of date', None, True),
    ('date("2024-01-01") instance of date and time', None, False),
    ('time("10:00:00") instance of time', None, True),
    ('date and time("2024-01-01T10:00:00") instance of date and time', None, True),
    ('date and time("2024-01-01T10:00:00") instance of date', None, False),
    ('duration("P3M") instance of years and months duration', None, True),
    ('duration("PT4H") instance of days and time duration', None, True),
    ('duration("PT4H") instance of years and months duration', None, False),
    ("(function(x) x) instance of function", None, True),
    ("x instance of number", {"x": 2.5}, True),
    ("x instance of string", {"x": None}, False),
    ("x instance of context", {"x": {"k": "v"}}, True),
    ("(1 instance of number) = true", None, True),
]

# missing variables and type mismatches give null instead of failing
NULL_SEMANTICS: list[Case] = [
    ("missing", {}, None),
    ("missing + 1", {}, None),
    ("1 + missing", {}, None),
    ("a.b.c", {"a": None}, None),
    ("a.b > 10", {}, None),
    ("null + 1", None, None),
    ("1 - null", None, None),
    ("null * 2", None, None),
    ("2 / null", None, None),
    ("null ** 2", None, None),
    ("-null", None, None),
    ('"a" * 2', None, None),
    ('"10" - "1"', None, None),
    ("true + 1", None, None),
    ("[1] + [2]", None, None),
    ("{a: 1} + 1", None, None),
    ('date("2024-01-01") + 1', None, None),
    ('"x" ** 2', None, None),
    ('-"5"', None, None),
    ("unknownFunction(1)", None, None),
    ("string length(1)", None, None),
    ("upper case(null)", None, None),
    ('substring("abc", "x")', None, None),
    ("count(5)", None, None),
    ("if missing then 1 else 2", {}, 2),
    ("missing.x = null", {}, True),
    ("[missing, 1]", {}, [None, 1]),
    ("{a: missing}", {}, {"a": None}),
    ("for x in missing return x", {}, None),
    ("some x in missing satisfies x > 1", {}, None),
    ('get or else(missing, "default")', {}, "default"),
    ('get or else(body.title, "untitled")', {"body": {}}, "untitled"),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(COMPARISONS))
def test_comparisons(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(LOGIC))
def test_three_valued_logic(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(BETWEEN))
def test_between(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(IN))
def test_in(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(INSTANCE_OF))
def test_instance_of(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(NULL_SEMANTICS))
def test_null_semantics(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)
