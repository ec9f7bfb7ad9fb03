"""FEEL conformance: if, for (ranges, nesting, partial), some/every, function definitions and
invocation with positional and named parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.feel.conftest import Case, cases, check, ym

ISSUE = {
    "body": {
        "status": "OK",
        "data": {"id": 7},
        "labels": [{"name": "bug", "default": True}, {"name": "docs", "default": False}],
    }
}
ITEMS = {"items": [{"name": "pen", "price": 5}, {"name": "lamp", "price": 25}]}

IFS: list[Case] = [
    ('if 5 < 10 then "low" else "high"', None, "low"),
    ('if 12 < 10 then "low" else "high"', None, "high"),
    ('if null then "low" else "high"', None, "high"),
    ('if "yes" then 1 else 2', None, 2),
    ("if 1 then 1 else 2", None, 2),
    ("if true then 1 else 2", None, 1),
    ("if false then 1 else null", None, None),
    ('if x > 0 then "pos" else if x < 0 then "neg" else "zero"', {"x": 3}, "pos"),
    ('if x > 0 then "pos" else if x < 0 then "neg" else "zero"', {"x": -3}, "neg"),
    ('if x > 0 then "pos" else if x < 0 then "neg" else "zero"', {"x": 0}, "zero"),
    ("(if true then 1 else 2) + 1", None, 2),
    ('if body.status = "OK" then body.data else null', ISSUE, {"id": 7}),
    ('if count(xs) > 0 then xs[1] else "none"', {"xs": []}, "none"),
    ('if count(xs) > 0 then xs[1] else "none"', {"xs": ["a"]}, "a"),
    ("if true then if false then 1 else 2 else 3", None, 2),
    ('{r: if a then "y" else "n"}.r', {"a": True}, "y"),
    ("if a then 1 else 2", {"a": None}, 2),
    ("if a then 1 else 2", {}, 2),
    ("if 1 > 0 then [1, 2] else {}", None, [1, 2]),
    ('if 1 > 0 and 2 > 1 then "both" else "not both"', None, "both"),
]

FORS: list[Case] = [
    ("for x in [1,2,3] return x * 2", None, [2, 4, 6]),
    ("for x in [1,2], y in [3,4] return x * y", None, [3, 4, 6, 8]),
    (
        "for i in 1..10 return if (i <= 2) then 1 else partial[-1] + partial[-2]",
        None,
        [1, 1, 2, 3, 5, 8, 13, 21, 34, 55],
    ),
    ("for i in 1..5 return if i = 1 then 1 else partial[-1] * 2", None, [1, 2, 4, 8, 16]),
    ("for x in 0..8 return 2 ** x", None, [1, 2, 4, 8, 16, 32, 64, 128, 256]),
    ("for x in 3..1 return 2 * x", None, [6, 4, 2]),
    ("for x in -2..0 return x", None, [-2, -1, 0]),
    ("for x in [] return x", None, []),
    ("for x in 1..1 return x", None, [1]),
    ("for i in 1..n return i", {"n": 3}, [1, 2, 3]),
    ("for i in a..b return i", {"a": 5, "b": 7}, [5, 6, 7]),
    ("for x in [1,2,3] return for y in [1,2] return x * y", None, [[1, 2], [2, 4], [3, 6]]),
    ('for x in ["a","b"] return upper case(x)', None, ["A", "B"]),
    ("for x in items return x.price * 2", ITEMS, [10, 50]),
    ("for x in items return x.name", ITEMS, ["pen", "lamp"]),
    (
        'for p in [{n: "a", q: 2}, {n: "b", q: 3}] return p.n + string(p.q)',
        None,
        ["a2", "b3"],
    ),
    ("sum(for x in [1,2,3] return x)", None, 6),
    ("for x in [1,2,3] return x > 1", None, [False, True, True]),
    ("for x in [1, null] return x", None, [1, None]),
    ("count(for i in 1..100 return i)", None, 100),
    ("for x in [[1,2],[3]] return count(x)", None, [2, 1]),
    ("for x in [1,2] return {v: x}", None, [{"v": 1}, {"v": 2}]),
    ("for e in get entries({a: 1, b: 2}) return e.key", None, ["a", "b"]),
    ("for x in [1,2], y in [10] return x + y", None, [11, 12]),
    ("for x in [1,2], y in [] return x + y", None, []),
    ('for a in ["x","y"], b in [1,2] return a + string(b)', None, ["x1", "x2", "y1", "y2"]),
    ("for x in [3,1,2] return x * factor", {"factor": 10}, [30, 10, 20]),
    ("for x in 1..3 return x + 0.5", None, [1.5, 2.5, 3.5]),
    ("(for x in [1,2,3] return x * x)[-1]", None, 9),
    ("for x in [1,2,3] return if even(x) then x else null", None, [None, 2, None]),
    ("for x in 1..3 return partial", None, [[], [[]], [[], [[]]]]),
]

QUANTIFIED: list[Case] = [
    ("some x in [1,2,3] satisfies x > 2", None, True),
    ("some x in [1,2,3] satisfies x > 5", None, False),
    ("some x in [1,2,3] satisfies even(x)", None, True),
    ("some x in [1,2], y in [2,3] satisfies x < y", None, True),
    ("every x in [1,2,3] satisfies x >= 1", None, True),
    ("every x in [1,2,3] satisfies x >= 2", None, False),
    ("every x in [1,2,3] satisfies even(x)", None, False),
    ("every x in [1,2], y in [2,3] satisfies x < y", None, False),
    ("every x in [1,2], y in [3,4] satisfies x < y", None, True),
    ("some x in [] satisfies x > 1", None, False),
    ("every x in [] satisfies x > 1", None, True),
    ("some x in [1, null] satisfies x > 0", None, True),
    ("every x in [1, 2] satisfies x > 0", None, True),
    ("every x in [0, null] satisfies x > 0", None, False),
    ('some l in body.labels satisfies l.name = "bug"', ISSUE, True),
    ("every l in body.labels satisfies l.default", ISSUE, False),
    ("some x in [1,2], y in [2,3] satisfies x + y = 5", None, True),
    ("some x in [3,4] satisfies x > limit", {"limit": 3}, True),
    ("some x in [3,4] satisfies x > limit", {"limit": 4}, False),
    ("not(some x in [1,2] satisfies x > 2)", None, True),
    ('some s in ["a", "bb"] satisfies string length(s) = 2', None, True),
    ("every s in xs satisfies s instance of string", {"xs": ["a", "b"]}, True),
    ("every s in xs satisfies s instance of string", {"xs": ["a", 1]}, False),
]

FUNCTIONS: list[Case] = [
    ("{f: function(a, b) a + b, r: f(1, 2)}.r", None, 3),
    ("{f: function(a, b) a + b}.f(1, 2)", None, 3),
    ("{f: function(a, b) a - b, r: f(b: 1, a: 5)}.r", None, 4),
    ("{f: function(a, b) a - b, r: f(a: 5, b: 1)}.r", None, 4),
    ("{f: function(x) x * x}.f(4)", None, 16),
    ("{sq: function(x) x * x, r: for i in [1,2,3] return sq(i)}.r", None, [1, 4, 9]),
    ("{f: function() 42, r: f()}.r", None, 42),
    ("{add: function(a, b) a + b, inc: function(x) add(x, 1), r: inc(5)}.r", None, 6),
    ("{y: 10, f: function(x) x + y, r: f(1)}.r", None, 11),
    ("{mk: function(n) function(x) x + n, add2: mk(2), r: add2(3)}.r", None, 5),
    ('{greet: function(name) "Hello " + name, r: greet("Ada")}.r', None, "Hello Ada"),
    ("{f: function(a, b) a + b, r: f(1)}.r", None, None),
    ("{f: function(a, b) a + b, r: f(a: 1, c: 2)}.r", None, None),
    ("{f: function(a, b) a + b, r: f(1, 2, 3)}.r", None, None),
    ('{f: function(x) x.name}.f({name: "n"})', None, "n"),
    ("{f: function(l) l[item > 1]}.f([1, 2, 3])", None, [2, 3]),
    ("{f: function(x) x * 2, r: f(f(f(1)))}.r", None, 8),
    ('{f: function(x) if x > 0 then "pos" else "neg", r: [f(1), f(-1)]}.r', None, ["pos", "neg"]),
    ('contains("me@camunda.com", ".com")', None, True),
    ('contains(string: "me@camunda.com", match: ".de")', None, False),
    ('substring(string: "foobar", start position: 3)', None, "obar"),
    ('substring(start position: 2, string: "foobar", length: 3)', None, "oob"),
    ("sort(list: [3,1,4,5,2], precedes: function(x,y) x < y)", None, [1, 2, 3, 4, 5]),
    ("sort([3,1,2], function(a, b) a > b)", None, [3, 2, 1]),
    (
        '{byLen: function(a, b) string length(a) < string length(b), r: sort(["ccc","a","bb"], byLen)}.r',
        None,
        ["a", "bb", "ccc"],
    ),
    ('string length(string: "abc")', None, 3),
    ('upper case(string: "a")', None, "A"),
    ("list contains(list: [1,2], element: 2)", None, True),
    ("count(list: [1,2])", None, 2),
    ("date(year: 2024, month: 2, day: 29)", None, dt.date(2024, 2, 29)),
    ("decimal(n: 1.555, scale: 2)", None, 1.56),
    ("round up(n: 5.5)", None, 6),
    ("modulo(dividend: 12, divisor: 5)", None, 2),
    ('get value(context: {a: 1}, key: "a")', None, 1),
    ('matches(input: "foobar", pattern: "^fo")', None, True),
    ('replace(input: "abc", pattern: "b", replacement: "x")', None, "axc"),
    ('split(string: "a-b", delimiter: "-")', None, ["a", "b"]),
    ("sublist(list: [1,2,3], start position: 2)", None, [2, 3]),
    ("index of(list: [1,2,1], match: 1)", None, [1, 3]),
    ("insert before(list: [1,3], position: 2, newItem: 2)", None, [1, 2, 3]),
    ("remove(list: [1,2,3], position: 1)", None, [2, 3]),
    ("floor(n: 1.5)", None, 1),
    ('number(from: "12")', None, 12),
    ("string(from: 12)", None, "12"),
    ('day of week(date: date("2019-09-17"))', None, "Tuesday"),
    ("get or else(value: null, default: 2)", None, 2),
    ("not(negand: true)", None, False),
    ('context put(context: {a: 1}, key: "b", value: 2)', None, {"a": 1, "b": 2}),
    (
        'years and months duration(from: date("2011-12-22"), to: date("2013-08-24"))',
        None,
        ym(1, 8),
    ),
    ('substring(string: "foobar", nope: 3)', None, None),
]


# Named arguments (feel-scala): a parameter that is not named is null inside the function, so
# its body decides; a name the function does not declare still finds no function. A parameter
# name of several words is kept as written, like a context key.
NAMED_ARGUMENTS: list[Case] = [
    ('{pick: function(a, b) if b = null then "no b" else "b", r: pick(a: 1)}.r', None, "no b"),
    ('{pick: function(a, b) if a = null then "no a" else "a", r: pick(b: 1)}.r', None, "no a"),
    ("{area: function(w, h) w * h, r: area(w: 3)}.r", None, None),
    ("{area: function(w, h) w * h, r: area(h: 2, w: 3)}.r", None, 6),
    ("{f: function(a, b, c) [a, b, c], r: f(b: 2)}.r", None, [None, 2, None]),
    ("{f: function(a, b, c) [a, b, c], r: f(c: 3, a: 1)}.r", None, [1, None, 3]),
    ("{f: function(a, b) [a, b], r: f(a: 1, c: 2)}.r", None, None),
    ("{f: function(a, b) [a, b], r: f()}.r", None, None),  # positional: the count must fit
    ("{f: function(a, b) [a, b], r: f(1)}.r", None, None),
    # a required built-in parameter left out is null too: the built-in rejects it
    ('substring(string: "abc")', None, None),
    ("date(year: 2024, month: 5)", None, None),
    # names of several words, kept as written
    ("{f: function(unit  price) `unit  price` * 2, r: f(unit  price: 4)}.r", None, 8),
    ("{f: function(unit  price) `unit  price` * 2, r: f(5)}.r", None, 10),
    ("{f: function(unit price) `unit price` * 2, r: f(unit price: 6)}.r", None, 12),
    ("{f: function(unit  price) `unit  price` * 2, r: f(unit price: 6)}.r", None, None),
    ('number(from: "7,5", decimal separator: ",")', None, 7.5),
    ('number(from: "7,5", decimal   separator: ",")', None, None),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(IFS))
def test_if(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(FORS))
def test_for(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(QUANTIFIED))
def test_some_every(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(FUNCTIONS))
def test_functions(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(NAMED_ARGUMENTS))
def test_named_arguments(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)
