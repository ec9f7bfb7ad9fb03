"""FEEL conformance: names, paths, projections, filters, contexts, lists and ranges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.feel.conftest import Case, cases, check

ISSUE = {
    "body": {
        "number": 1347,
        "state": "open",
        "html_url": "https://github.com/octocat/Hello-World/issues/1347",
        "labels": [
            {"id": 208045946, "name": "bug", "default": True},
            {"id": 208045947, "name": "needs review", "default": False},
        ],
        "user": {"login": "octocat", "site_admin": False},
        "assignees": [],
    }
}

ITEMS = {
    "items": [
        {"name": "pen", "price": 5, "tags": ["office"]},
        {"name": "lamp", "price": 25, "tags": ["home", "office"]},
        {"name": "desk", "price": 150, "tags": ["home"]},
    ]
}

NAMES: list[Case] = [
    ("a", {"a": 1}, 1),
    ("a + b", {"a": 1, "b": 2}, 3),
    ("myVar", {"myVar": "x"}, "x"),
    ("snake_case", {"snake_case": 5}, 5),
    ("_x", {"_x": 1}, 1),
    ("x1", {"x1": 2}, 2),
    ("A", {"A": 1, "a": 2}, 1),
    ("a", {"A": 1}, None),
    ("`first name`", {"first name": "Ada"}, "Ada"),
    ("`tracking-id`", {"tracking-id": "T-1"}, "T-1"),
    ("order.`total price`", {"order": {"total price": 42}}, 42),
    ("`a+b` * 2", {"a+b": 3}, 6),
    ("`a.b`", {"a.b": 1}, 1),
    ("`if`", {"if": 7}, 7),
    ("order", {"order": 1}, 1),
    ("android", {"android": 2}, 2),
    ("notes", {"notes": "n"}, "n"),
    ("index", {"index": 3}, 3),
    ("forecast", {"forecast": "sunny"}, "sunny"),
    ("nullable", {"nullable": 4}, 4),
    ("trueValue", {"trueValue": 5}, 5),
    ("falsehood", {"falsehood": 6}, 6),
    ("everyone", {"everyone": 7}, 7),
    ("something", {"something": 8}, 8),
    ("iffy", {"iffy": 9}, 9),
    ("thenable", {"thenable": 10}, 10),
    ("returned", {"returned": 11}, 11),
    ("item", {"item": 12}, 12),
    ("count", {"count": 13}, 13),
    ("größe", {"größe": 3}, 3),
    ("missing", {}, None),
    ("missing.field", {}, None),
    ("a.missing", {"a": {}}, None),
    ("a.b.c", {"a": {"b": {"c": 1}}}, 1),
    ("a.b.c.d", {"a": {"b": {"c": {"d": "deep"}}}}, "deep"),
    ("a.b", {"a": {"b": None}}, None),
    ("string length(name)", {"name": "Ada"}, 3),
    ('list contains(tags, "x")', {"tags": ["x", "y"]}, True),
]

CONTEXTS: list[Case] = [
    ("{}", None, {}),
    ("{a: 1}", None, {"a": 1}),
    ("{a: 1, b: 2}", None, {"a": 1, "b": 2}),
    ('{"a": 1, "b": 2}', None, {"a": 1, "b": 2}),
    ('{a: 1, "b c": 2, d: a + 1}', None, {"a": 1, "b c": 2, "d": 2}),
    ("{a: 2, b: a * 2}", None, {"a": 2, "b": 4}),
    ("{a: 1, b: a + 1, c: b + 1}", None, {"a": 1, "b": 2, "c": 3}),
    ("{a: 1, b: {c: 2}}", None, {"a": 1, "b": {"c": 2}}),
    ("{a: 1, b: {c: a + 1}}", None, {"a": 1, "b": {"c": 2}}),
    ("{nested: {d: 3}}", None, {"nested": {"d": 3}}),
    ('{first name: "Ada"}', None, {"first name": "Ada"}),
    ('{first name: "Ada"}.`first name`', None, "Ada"),
    ('{"b c": 2}.`b c`', None, 2),
    ('{"a-b": 1}', None, {"a-b": 1}),
    ("{`weird key`: 5}", None, {"weird key": 5}),
    (
        '{first name: "Ada", greeting: "Hi " + `first name`}.greeting',
        None,
        "Hi Ada",
    ),
    ("{a: x, b: x * 2}", {"x": 5}, {"a": 5, "b": 10}),
    ("{x: 1, y: x}", {"x": 99}, {"x": 1, "y": 1}),
    ("{a: null}", None, {"a": None}),
    ("{a: [1, 2], b: {c: [3]}}", None, {"a": [1, 2], "b": {"c": [3]}}),
    ("{a: 1}.a", None, 1),
    ("{a: {b: 3}}.a", None, {"b": 3}),
    ("{a: {b: 3}}.a.b", None, 3),
    ("{a: 1}.b", None, None),
    ("{a: 1} = {a: 1}", None, True),
    ("{a: 1, b: 2} = {b: 2, a: 1}", None, True),
    ("{a: 1} = {a: 2}", None, False),
    ("{a: 1} = {a: 1, b: 2}", None, False),
    ("{a: [1, {b: 2}]} = {a: [1, {b: 2}]}", None, True),
    ("{} = {}", None, True),
    ("{a: 1} != {a: 2}", None, True),
    (
        "{issueUrl: body.html_url, needsReview: body.number > 100}",
        ISSUE,
        {
            "issueUrl": "https://github.com/octocat/Hello-World/issues/1347",
            "needsReview": True,
        },
    ),
    (
        '{"Accept": "application/json", "X-Count": string(n)}',
        {"n": 3},
        {
            "Accept": "application/json",
            "X-Count": "3",
        },
    ),
    ("{a: 1, a2: {a: 2}.a}", None, {"a": 1, "a2": 2}),
    (
        "{total: sum(for i in items return i.price), n: count(items)}",
        ITEMS,
        {"total": 180, "n": 3},
    ),
]

PATHS: list[Case] = [
    ("body.state", ISSUE, "open"),
    ("body.user.login", ISSUE, "octocat"),
    ("body.user.site_admin", ISSUE, False),
    ("body.missing.deeper", ISSUE, None),
    ("body.number.value", ISSUE, None),
    ("x.a", {"x": None}, None),
    ("x.a", {"x": 5}, None),
    ("x.a", {"x": "text"}, None),
    ("[{a: 1}, {a: 2}].a", None, [1, 2]),
    ("[{a: 1}, {b: 2}].a", None, [1, None]),
    ("[{a: {b: 1}}, {a: {b: 2}}].a.b", None, [1, 2]),
    ("(body.labels).name", ISSUE, ["bug", "needs review"]),
    ("body.labels.name", ISSUE, ["bug", "needs review"]),
    ("body.labels.id", ISSUE, [208045946, 208045947]),
    ('list contains((body.labels).name, "needs review")', ISSUE, True),
    ('list contains(body.labels.name, "wontfix")', ISSUE, False),
    ("body.assignees.login", ISSUE, []),
    ("count(body.labels)", ISSUE, 2),
    ("items.price", ITEMS, [5, 25, 150]),
    ("sum(items.price)", ITEMS, 180),
    ("items.tags", ITEMS, [["office"], ["home", "office"], ["home"]]),
    ("x.a", {"x": [{"a": [1, 2]}, {"a": [3]}]}, [[1, 2], [3]]),
    ("[{a: 1, b: 2}, {a: 3, b: 4}][a > 1].b", None, [4]),
    ("[{a: 1, b: 2}, {a: 3, b: 4}][a > 1][1].b", None, 4),
    ('get value({a: {b: 1}}, "a").b', None, 1),
    ("{f: function(x) {v: x}}.f(3).v", None, 3),
]

FILTERS: list[Case] = [
    ("[1,2,3,4][item > 2]", None, [3, 4]),
    ("[1,2,3,4][item > 10]", None, []),
    ("[1,2,3,4][even(item)]", None, [2, 4]),
    ("[1,2,3,4][1]", None, 1),
    ("[1,2,3,4][2]", None, 2),
    ("[1,2,3,4][4]", None, 4),
    ("[1,2,3,4][5]", None, None),
    ("[1,2,3,4][0]", None, None),
    ("[1,2,3,4][-1]", None, 4),
    ("[1,2,3,4][-2]", None, 3),
    ("[1,2,3,4][-4]", None, 1),
    ("[1,2,3,4][-5]", None, None),
    ("[1,2,3,4][item > 0 and item < 3]", None, [1, 2]),
    ("[1,2,3,4][item = 2 or item = 4]", None, [2, 4]),
    ("[1,2,3,4][not(item = 2)]", None, [1, 3, 4]),
    ("[1,2,3,4][item != 3]", None, [1, 2, 4]),
    ('["a","b","c"][item != "b"]', None, ["a", "c"]),
    ("[1, null, 3][item > 1]", None, [3]),
    ('[1, "a", 3][item > 1]', None, [3]),
    ("[][item > 1]", None, []),
    ('[{a: "p1", b: 5}, {a: "p2", b: 10}][b > 7]', None, [{"a": "p2", "b": 10}]),
    ("[{a: 1}, {b: 2}][a < 10]", None, [{"a": 1}]),
    ("[{a: 1}, {a: 2}, {a: 3}][item.a >= 2].a", None, [2, 3]),
    ("items[price > 10]", ITEMS, ITEMS["items"][1:]),
    ("items[price > 10].name", ITEMS, ["lamp", "desk"]),
    ("items[item.price > 100].name", ITEMS, ["desk"]),
    ('items[name = "lamp"][1].price', ITEMS, 25),
    ('items[list contains(tags, "office")].name', ITEMS, ["pen", "lamp"]),
    ("items[price > limit].name", {**ITEMS, "limit": 20}, ["lamp", "desk"]),
    ("items[price > 1000]", ITEMS, []),
    ("items[1].name", ITEMS, "pen"),
    ("items[-1].name", ITEMS, "desk"),
    ("x[1]", {"x": ["a", "b"]}, "a"),
    ("x[i]", {"x": ["a", "b", "c"], "i": 2}, "b"),
    ("x[-i]", {"x": ["a", "b", "c"], "i": 1}, "c"),
    ("x[i + 1]", {"x": ["a", "b", "c"], "i": 2}, "c"),
    ("[[1,2],[3,4]][2][1]", None, 3),
    ("[[1,2],[3,4]][2]", None, [3, 4]),
    ("x[item > 1]", {"x": None}, None),
    ("missing[item > 1]", {}, None),
    ("x[item > 1]", {"x": 5}, None),
    ("[1,2,3,4][item > 1][item < 4]", None, [2, 3]),
    ("count([1,2,3,4][odd(item)])", None, 2),
    ("[{item: 1}, {item: 5}][item > 2]", None, [{"item": 5}]),
    ("[{v: 1}, {v: 5}][v > threshold]", {"threshold": 2}, [{"v": 5}]),
]

LISTS: list[Case] = [
    ("[]", None, []),
    ("[1,2,3]", None, [1, 2, 3]),
    ('["a","b"]', None, ["a", "b"]),
    ('[["list"], "of", [["lists"]]]', None, [["list"], "of", [["lists"]]]),
    ("[[1,2], [3,4], [5,6]]", None, [[1, 2], [3, 4], [5, 6]]),
    ("[1, 1 + 1, 1 + 1 + 1]", None, [1, 2, 3]),
    ("[a, b]", {"a": 1, "b": "x"}, [1, "x"]),
    ("[null]", None, [None]),
    ('[{a: 1}, [2], "3"]', None, [{"a": 1}, [2], "3"]),
    ("[1,2,3] = [1,2,3]", None, True),
    ("[1,2,3] = [1,2]", None, False),
    ("[1,2,3] = [3,2,1]", None, False),
    ("[] = []", None, True),
    ("[[1], [2]] = [[1], [2]]", None, True),
    ("[1,2] != [1,2]", None, False),
    ("count([])", None, 0),
]

RANGES: list[Case] = [
    ("5 in [1..10]", None, True),
    ("1 in [1..10]", None, True),
    ("10 in [1..10]", None, True),
    ("1 in (1..10]", None, False),
    ("10 in [1..10)", None, False),
    ("1 in ]1..10]", None, False),
    ("10 in [1..10[", None, False),
    ("5 in ]1..10[", None, True),
    ("5 in (3..7)", None, True),
    ("0 in [1..10]", None, False),
    ("11 in [1..10]", None, False),
    ("5.5 in [5..6]", None, True),
    ("x in [lo..hi]", {"x": 3, "lo": 1, "hi": 5}, True),
    ("x in [lo..hi]", {"x": 7, "lo": 1, "hi": 5}, False),
    ('date("2021-06-04") in [date("2021-05-01")..date("2021-05-31")]', None, False),
    ('date("2021-05-04") in [date("2021-05-01")..date("2021-05-31")]', None, True),
    ('duration("PT5M") in [duration("PT1M")..duration("PT10M")]', None, True),
    ("includes([1..10], 5)", None, True),
    ("includes([1..10], 11)", None, False),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(NAMES))
def test_names(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(CONTEXTS))
def test_contexts(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(PATHS))
def test_paths_and_projections(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(FILTERS))
def test_filters(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(LISTS))
def test_lists(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(RANGES))
def test_ranges(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)
