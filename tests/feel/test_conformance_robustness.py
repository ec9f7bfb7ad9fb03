"""FEEL conformance: syntax errors with positions, nesting and size limits, pathological inputs,
lazy big contexts and the public API contract."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.feel.conftest import SYNTAX_ERROR, Case, cases, check

SYNTAX_ERRORS: list[Case] = [
    ("1 +", None, SYNTAX_ERROR),
    ("(1 + 2", None, SYNTAX_ERROR),
    ("1 + 2)", None, SYNTAX_ERROR),
    ("[1, 2", None, SYNTAX_ERROR),
    ("[1, 2, 3,]", None, SYNTAX_ERROR),
    ("{a: 1", None, SYNTAX_ERROR),
    ("{a 1}", None, SYNTAX_ERROR),
    ("{: 1}", None, SYNTAX_ERROR),
    ("{a: }", None, SYNTAX_ERROR),
    ("if true then 1", None, SYNTAX_ERROR),
    ("if true 1 else 2", None, SYNTAX_ERROR),
    ("if then else", None, SYNTAX_ERROR),
    ("for x in [1] x", None, SYNTAX_ERROR),
    ("for x [1] return x", None, SYNTAX_ERROR),
    ("some x in [1] x > 1", None, SYNTAX_ERROR),
    ("every x in [1]", None, SYNTAX_ERROR),
    ("function(a, b a + b", None, SYNTAX_ERROR),
    ('"unterminated', None, SYNTAX_ERROR),
    ("`unclosed", None, SYNTAX_ERROR),
    ("1 2", None, SYNTAX_ERROR),
    ("a.", None, SYNTAX_ERROR),
    ("* 1", None, SYNTAX_ERROR),
    ("1 * * 2", None, SYNTAX_ERROR),
    ("1 = = 2", None, SYNTAX_ERROR),
    ("x in", None, SYNTAX_ERROR),
    ("5 between 1", None, SYNTAX_ERROR),
    ("true and", None, SYNTAX_ERROR),
    ("not(", None, SYNTAX_ERROR),
    (")", None, SYNTAX_ERROR),
    ("}", None, SYNTAX_ERROR),
    ("]", None, SYNTAX_ERROR),
    ("", None, SYNTAX_ERROR),
    ("   ", None, SYNTAX_ERROR),
    ("=", None, SYNTAX_ERROR),
    ("f(,)", None, SYNTAX_ERROR),
    ("f(a:)", None, SYNTAX_ERROR),
    ("{a: 1}.", None, SYNTAX_ERROR),
    ("1 /* unclosed comment", None, SYNTAX_ERROR),
    ("[1..", None, SYNTAX_ERROR),
]

# moderate nesting is ordinary FEEL and must keep working
NESTING: list[Case] = [
    ("(" * 20 + "1" + ")" * 20, None, 1),
    ("[" * 20 + "1" + "]" * 20, None, [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]),
    ("{a: " * 20 + "1" + "}" * 20 + ".a" * 20, None, 1),
    ("if true then " * 30 + "1" + " else 0" * 30, None, 1),
    ("1" + " + 1" * 100, None, 101),
    ('"a"' + ' + "a"' * 99, None, "a" * 100),
    ("not(" * 20 + "true" + ")" * 20, None, True),
    ("for a in [1] return " * 10 + "a", None, [[[[[[[[[[1]]]]]]]]]]),
    ("a" * 2000, {"a" * 2000: "long name"}, "long name"),
    ('string length("' + "x" * 50_000 + '")', None, 50_000),
]


@pytest.mark.parametrize(("expression", "context", "expected"), cases(SYNTAX_ERRORS))
def test_syntax_errors(expression: str, context: dict[str, Any] | None, expected: Any) -> None:
    check(expression, context, expected)


@pytest.mark.parametrize(("expression", "context", "expected"), cases(NESTING))
def test_reasonable_nesting_and_size(
    expression: str, context: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, context, expected)


def test_syntax_error_reports_position_and_expectation() -> None:
    from connector import feel

    with pytest.raises(feel.FeelSyntaxError) as info:
        feel.compile("1 +")
    error = info.value
    assert error.line == 1
    assert isinstance(error.column, int) and 0 <= error.column <= 4
    assert error.expected, "the error should say what was expected"
    assert "1 +" in str(error)


def test_syntax_error_on_a_later_line() -> None:
    from connector import feel

    with pytest.raises(feel.FeelSyntaxError) as info:
        feel.compile("{\n  a: 1,\n  b: )\n}")
    assert info.value.line == 3
    assert isinstance(info.value.column, int) and 1 <= info.value.column <= 6
    assert info.value.expected


def test_syntax_error_column_points_at_the_offending_token() -> None:
    from connector import feel

    with pytest.raises(feel.FeelSyntaxError) as near:
        feel.compile("1 + )")
    with pytest.raises(feel.FeelSyntaxError) as far:
        feel.compile("1 + 2 + 3 + 4 + )")
    assert near.value.line == far.value.line == 1
    assert far.value.column - near.value.column == 12


def test_evaluate_raises_syntax_errors_too() -> None:
    from connector import feel

    with pytest.raises(feel.FeelSyntaxError):
        feel.evaluate("if true then", {})


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("(" * 20_000 + "1" + ")" * 20_000, id="parentheses"),
        pytest.param("[" * 20_000 + "]" * 20_000, id="lists"),
        pytest.param("{a: " * 20_000 + "1" + "}" * 20_000, id="contexts"),
        pytest.param("if true then " * 20_000 + "1" + " else 0" * 20_000, id="ifs"),
        pytest.param("f(" * 20_000 + ")" * 20_000, id="calls"),
    ],
)
def test_deep_nesting_is_a_syntax_error_not_a_crash(expression: str) -> None:
    from connector import feel

    with pytest.raises(feel.FeelSyntaxError):
        feel.compile(expression)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        pytest.param("-" * 20_000 + "1", 1, id="unary-minus"),
        pytest.param("not(" * 20_000 + "true" + ")" * 20_000, True, id="not"),
        pytest.param("1" + " + 1" * 50_000, 50_001, id="long-sum"),
        pytest.param("[" + ", ".join(["1"] * 100_000) + "]", None, id="huge-list"),
        pytest.param("x" + ".a" * 20_000, None, id="long-path"),
    ],
)
def test_huge_expressions_are_bounded(expression: str, value: Any) -> None:
    from connector import feel

    started = time.perf_counter()
    try:
        result = feel.evaluate(expression, {})
    except feel.FeelSyntaxError:
        result = "rejected"
    assert time.perf_counter() - started < 10
    if result != "rejected" and value is not None:
        assert result == value


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("for x in 1..100000000 return x", id="huge-range"),
        pytest.param("count(for x in 1..100000, y in 1..100000 return 1)", id="huge-product"),
        pytest.param("10 ** 1000000000", id="huge-power"),
    ],
)
def test_pathological_evaluations_are_bounded(expression: str) -> None:
    from connector import feel

    started = time.perf_counter()
    result = feel.evaluate(expression, {})
    assert time.perf_counter() - started < 10
    assert result is None or isinstance(result, int | float)


def test_large_iterations_within_limits_work() -> None:
    from connector import feel

    assert feel.evaluate("count(for x in 1..10000 return x)", {}) == 10000
    assert feel.evaluate("sum(for x in 1..1000 return x)", {}) == 500500


def test_deeply_nested_input_data_does_not_crash() -> None:
    from connector import feel

    data: dict[str, Any] = {"leaf": 1}
    for _ in range(5000):
        data = {"a": data}
    result = feel.evaluate("x", {"x": data})
    assert result is None or isinstance(result, dict)
    assert feel.evaluate("x.a.a.a != null", {"x": data}) is True


class CountingMapping(Mapping[str, Any]):
    """A read-only variable source that records how it is accessed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.iterations = 0
        self.reads: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.reads.add(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.iterations += 1
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_big_context_is_read_lazily() -> None:
    from connector import feel

    variables = CountingMapping({**{f"k{i}": i for i in range(100_000)}, "a": 1})
    expression = feel.compile("a + 1")
    assert expression.evaluate(variables) == 2
    assert variables.iterations == 0
    assert variables.reads <= {"a"}


def _best_time(expression: Any, variables: dict[str, Any], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(20):
            assert expression.evaluate(variables) is True
        best = min(best, time.perf_counter() - started)
    return best


def test_big_json_body_is_converted_lazily() -> None:
    from connector import feel

    expression = feel.compile('body.status = "OK" and body.k7.v = 7')
    small = {"body": {"status": "OK", "k7": {"v": 7}}}
    big = {
        "body": {**{f"k{i}": {"v": i, "w": [i, str(i)]} for i in range(200_000)}, "status": "OK"}
    }
    # converting a 200 000 entry object costs tens of milliseconds per evaluation; reading two
    # entries costs microseconds whatever the size of the object
    assert _best_time(expression, big) < 20 * _best_time(expression, small) + 0.005


def test_compiled_expression_is_reusable_and_stateless() -> None:
    from connector import feel

    expression = feel.compile("{double: x * 2, seen: x}")
    for value in range(50):
        assert expression.evaluate({"x": value}) == {"double": value * 2, "seen": value}
    assert expression.evaluate({}) == {"double": None, "seen": None}


def test_changed_input_is_seen_on_the_next_evaluation() -> None:
    from connector import feel

    expression = feel.compile("items[price > 10].name")
    variables = {"items": [{"name": "a", "price": 5}, {"name": "b", "price": 20.5}]}
    assert expression.evaluate(variables) == ["b"]
    variables["items"][0]["price"] = 100
    assert expression.evaluate(variables) == ["a", "b"]
    variables["items"].append({"name": "c", "price": 11})
    assert expression.evaluate(variables) == ["a", "b", "c"]


def test_evaluation_does_not_mutate_the_input() -> None:
    from connector import feel

    variables = {"a": [1, 2], "b": {"c": 1}}
    feel.evaluate('{x: append(a, 3), y: context put(b, "d", 2), z: reverse(a)}', variables)
    assert variables == {"a": [1, 2], "b": {"c": 1}}


def test_evaluate_without_context() -> None:
    from connector import feel

    assert feel.evaluate("1 + 1") == 2


def test_non_mapping_context_is_api_misuse() -> None:
    from connector import feel

    with pytest.raises(TypeError):
        feel.compile("1").evaluate([1, 2])  # type: ignore[arg-type]
