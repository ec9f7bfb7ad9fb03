"""Public API of connector.feel: compile/evaluate, conversions in and out, errors."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from connector import feel
from connector.feel import (
    Expression,
    FeelError,
    FeelSyntaxError,
    YearsMonthsDuration,
    json_default,
    to_json_compatible,
)

BODY = {
    "status": "OK",
    "html_url": "https://github.com/o/r/issues/7",
    "number": 7,
    "labels": [{"name": "bug"}, {"name": "needs review"}],
}


class RecordingContext(Mapping[str, Any]):
    """A context that remembers which variables the evaluation read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class TestCompileAndEvaluate:
    def test_leading_equals_sign_is_stripped(self) -> None:
        expr = feel.compile('  ="https://api.example.com/orders/" + string(orderId)')
        assert isinstance(expr, Expression)
        assert expr.evaluate({"orderId": 42}) == "https://api.example.com/orders/42"

    def test_compiled_expression_is_reusable(self) -> None:
        expr = feel.compile('body.status = "OK"')
        assert expr.evaluate({"body": BODY}) is True
        assert expr.evaluate({"body": {"status": "FAILED"}}) is False
        # a missing variable is null, and null = "OK" is false (feel-scala)
        assert expr.evaluate_with_warnings({}) == (
            False,
            ["No variable found with name 'body'"],
        )

    def test_evaluate_caches_compiled_expressions(self) -> None:
        assert feel.compile("1 + 1") is feel.compile("1 + 1")

    def test_evaluate_without_context(self) -> None:
        assert feel.evaluate("1 + 1") == 2

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('body.status = "OK"', True),
            ("{issueUrl: body.html_url, n: body.number}", {"issueUrl": BODY["html_url"], "n": 7}),
            ('list contains((body.labels).name, "needs review")', True),
            ("body.number < 10", True),
            ('(body.labels)[name = "bug"][1].name', "bug"),
        ],
    )
    def test_typical_connector_expressions(self, text: str, expected: Any) -> None:
        assert feel.evaluate(text, {"body": BODY}) == expected

    def test_any_mapping_is_a_context(self) -> None:
        assert feel.evaluate("a + 1", MappingProxyType({"a": 1})) == 2

    def test_context_is_read_lazily(self) -> None:
        context = RecordingContext({"a": 1, "big": list(range(100_000)), "other": {"x": 1}})
        assert feel.evaluate("a + 1", context) == 2
        assert context.read == {"a"}

    def test_input_is_not_modified(self) -> None:
        body = {"items": [{"price": 5}, {"price": 50}]}
        snapshot = json.dumps(body)
        feel.evaluate(
            "{all: body.items, cheap: body.items[price < 10], n: count(body.items)}", {"body": body}
        )
        assert json.dumps(body) == snapshot

    def test_values_read_from_the_context_are_returned_as_given(self) -> None:
        items = [{"price": 5}, {"price": 50}]
        result = feel.evaluate("items[price > 10]", {"items": items})
        assert result == [{"price": 50}]
        assert result[0] is items[1]

    def test_concurrent_evaluation(self) -> None:
        expr = feel.compile("for i in 1..50 return i * x")
        errors: list[str] = []

        def work(x: int) -> None:
            for _ in range(50):
                if expr.evaluate({"x": x}) != [i * x for i in range(1, 51)]:
                    errors.append(f"wrong result for {x}")

        threads = [threading.Thread(target=work, args=(x,)) for x in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


class TestMisuse:
    @pytest.mark.parametrize("context", [None, [1, 2], "a=1", 5])
    def test_non_mapping_context_raises_type_error(self, context: Any) -> None:
        with pytest.raises(TypeError):
            feel.compile("1").evaluate(context)

    def test_non_string_expression_raises_type_error(self) -> None:
        with pytest.raises(TypeError):
            feel.compile(42)  # type: ignore[arg-type]

    def test_syntax_error_details(self) -> None:
        with pytest.raises(FeelSyntaxError) as info:
            feel.compile("=a +")
        error = info.value
        assert isinstance(error, FeelError)
        assert (error.line, error.column) == (1, 4)
        assert error.expected == "an expression"
        assert error.expression == "a +"
        message = str(error)
        assert "line 1, column 4" in message and "a +" in message

    def test_data_problems_never_raise(self) -> None:
        for text in ["a.b.c", "x / 0", "date(x)", "x[1]", "sum(x)", "x.year", "x(1)"]:
            for value in [None, "s", 5, [1], {"b": 1}, dt.date(2024, 1, 1)]:
                feel.evaluate(text, {"x": value, "a": value})


class TestWarnings:
    def test_warnings_are_reported_per_evaluation(self) -> None:
        expr = feel.compile("a + b")
        value, warnings = expr.evaluate_with_warnings({"a": 1})
        assert value is None
        assert warnings == ["No variable found with name 'b'"]
        assert expr.evaluate_with_warnings({"a": 1, "b": 2}) == (3, [])

    def test_module_level_evaluate_with_warnings(self) -> None:
        value, warnings = feel.evaluate_with_warnings("x.y", {"x": {}})
        assert value is None and len(warnings) == 1


class TestConversions:
    @pytest.mark.parametrize(
        ("text", "expected", "kind"),
        [
            ("1 + 1", 2, int),
            ("1.0 * 3", 3, int),
            ("1 / 4", 0.25, float),
            ("0.1 + 0.2", 0.3, float),
            ("1 / 3", Decimal("0.3333333333333333333333333333333333"), Decimal),
        ],
    )
    def test_numbers_out(self, text: str, expected: Any, kind: type) -> None:
        result = feel.evaluate(text)
        assert result == expected and type(result) is kind

    def test_numbers_in(self) -> None:
        assert feel.evaluate("x + y", {"x": 0.1, "y": 0.2}) == 0.3
        assert feel.evaluate("x + 1", {"x": 10**30}) == 10**30 + 1
        assert feel.evaluate("x * 2", {"x": Decimal("1.25")}) == 2.5
        assert feel.evaluate("x + 1", {"x": True}) is None
        assert feel.evaluate("x", {"x": float("nan")}) is None

    def test_sequences_in(self) -> None:
        assert feel.evaluate("count(x)", {"x": (1, 2, 3)}) == 3

    def test_nested_results_are_plain(self) -> None:
        result = feel.evaluate("{a: [1, 2.5, {b: 1 / 4}], c: null, d: true}")
        assert result == {"a": [1, 2.5, {"b": 0.25}], "c": None, "d": True}
        assert type(result["a"][0]) is int

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('@"2024-05-01"', dt.date(2024, 5, 1)),
            ('@"10:30:00"', dt.time(10, 30)),
            ('@"2024-05-01T10:30:00Z"', dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)),
            ('@"P1DT2H"', dt.timedelta(days=1, hours=2)),
            ('@"P1Y2M"', YearsMonthsDuration(14)),
        ],
    )
    def test_temporal_values_out(self, text: str, expected: Any) -> None:
        result = feel.evaluate(text)
        assert result == expected and type(result) is type(expected)

    def test_aware_date_time_keeps_its_offset(self) -> None:
        result = feel.evaluate('@"2024-05-01T10:30:00+02:00"')
        assert result.utcoffset() == dt.timedelta(hours=2)

    def test_temporal_values_in(self) -> None:
        context = {"d": dt.date(2024, 1, 31), "m": YearsMonthsDuration(1)}
        assert feel.evaluate("d + m", context) == dt.date(2024, 2, 29)

    def test_to_json_compatible(self) -> None:
        value = feel.evaluate('{n: 1 / 3, d: @"2024-05-01", p: @"P1D", y: @"P1Y", r: [1..2]}')
        plain = to_json_compatible(value)
        # numbers with a fraction become doubles, as Zeebe stores them; ranges have no value
        assert plain["n"] == 0.3333333333333333
        assert plain["d"] == "2024-05-01"
        assert plain["p"] == "P1D"
        assert plain["y"] == "P1Y"
        assert plain["r"] is None
        assert json.loads(json.dumps(plain)) == plain

    def test_json_default_hook(self) -> None:
        value = {"x": Decimal("2.50"), "when": dt.date(2024, 1, 2)}
        assert json.loads(json.dumps(value, default=json_default)) == {
            "x": 2.5,
            "when": "2024-01-02",
        }
        with pytest.raises(TypeError):
            json_default(object())


class TestRobustness:
    FRAGMENTS = (
        "1",
        "-2.5",
        '"s"',
        "x",
        "y.z",
        "true",
        "null",
        '@"P1D"',
        '@"2024-01-01"',
        "+",
        "-",
        "*",
        "/",
        "**",
        "=",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
        "..",
        ".",
        "if",
        "then",
        "else",
        "for",
        "in",
        "return",
        "some",
        "satisfies",
        "function",
        "between",
        "instance",
        "of",
        "not",
        "item",
        "?",
        "count",
        "string",
    )

    def test_random_token_soup_never_escapes_the_api(self) -> None:
        import random

        rng = random.Random(20240501)
        context = {"x": [1, {"z": 2}], "y": {"z": "a"}}
        for _ in range(5000):
            text = " ".join(rng.choice(self.FRAGMENTS) for _ in range(rng.randint(1, 12)))
            try:
                expr = feel.compile(text)
            except FeelSyntaxError:
                continue
            _, warnings = expr.evaluate_with_warnings(context)
            assert not [w for w in warnings if w.startswith("internal error")], text


class TestFreeNames:
    """``Expression.free_names``: the input variables an expression may read."""

    @pytest.mark.parametrize(
        ("text", "names"),
        [
            ('body.status = "OK"', {"body"}),
            ("a.b.c", {"a"}),
            ('"https://api.example.com/orders/" + string(orderId)', {"orderId"}),
            ("list contains(items, x)", {"items", "x"}),
            ('list contains((body.labels).name, "needs review")', {"body"}),
            ("for i in xs return i + y", {"xs", "y"}),
            ("for i in xs, j in i.kids return j + partial[1]", {"xs"}),
            ("for i in 1..n return i", {"n"}),
            ("some x in xs satisfies x > limit", {"xs", "limit"}),
            ("every x in xs, y in ys satisfies x < y", {"xs", "ys"}),
            ("{a: 1, b: a + c}", {"c"}),
            ("{a: b, b: 1}", {"b"}),  # `b` is not defined yet when `a` is computed
            ("{a: a}", {"a"}),
            ("{f: function(n) if n < 1 then 0 else f(n - 1), r: f(k)}.r", {"k"}),
            ("{g: function() h, h: 1, r: g()}.r", set()),
            ("function(a, b) a + b + c", {"c"}),
            ("items[price > limit]", {"items", "price", "limit"}),
            ("items[item.price > 10]", {"items"}),
            ("items[1]", {"items"}),
            ("item", {"item"}),  # outside a filter `item` is an ordinary variable
            ("order id + 1", {"order id"}),
            ("`order-id` + 1", {"order-id"}),
            ("date and time(start) + duration(d)", {"start", "d"}),
            ("string length(name) > 3", {"name"}),
            ("is defined(a.b) and get or else(c, 1) > 0", {"a", "c"}),
            ("f(1)", {"f"}),
            ("sort(xs, function(a, b) a < b)", {"xs"}),
            ("x in (< low, > high)", {"x", "low", "high"}),
            ("x in (? > low)", {"x", "low"}),
            ("? > 1", {"?"}),  # outside a unary test the input value is a variable
            ("x between lo and hi", {"x", "lo", "hi"}),
            ("x instance of number", {"x"}),
            ("if ok then yes else no", {"ok", "yes", "no"}),
            ('{"a b": 1, c: {d: e}}', {"e"}),
            ("1 + 2", set()),
            ('date("2024-01-01") + duration("P1D")', set()),
        ],
    )
    def test_names(self, text: str, names: set[str]) -> None:
        free = feel.compile(text).free_names
        assert isinstance(free, frozenset)
        assert free == names

    def test_local_name_that_shadows_a_builtin_is_read_from_outside_until_defined(self) -> None:
        # `string` is a context entry, but not yet when `x` is computed
        assert feel.compile("{x: string(1), string: 2}").free_names == {"string"}

    def test_computed_once_at_compile_time(self) -> None:
        expr = feel.compile("a + b")
        assert expr.free_names is expr.free_names

    def test_flat_chains_and_deep_trees(self) -> None:
        text = " or ".join(f"v{i} = {i}" for i in range(5000))
        assert feel.compile(text).free_names == {f"v{i}" for i in range(5000)}
        nested = "{a: " * 100 + "x" + "}" * 100
        assert feel.compile(nested).free_names == {"x"}

    def test_never_misses_a_variable_the_evaluation_reads(self) -> None:
        """Every case of the conformance suite: names read from the context ⊆ free_names."""
        import importlib

        checked = 0
        for module_name in (
            "builtins",
            "connector",
            "control",
            "literals",
            "operators",
            "structures",
            "temporal",
        ):
            module = importlib.import_module(f"tests.feel.test_conformance_{module_name}")
            for table in vars(module).values():
                if not (isinstance(table, list) and table and isinstance(table[0], tuple)):
                    continue
                for case in table:
                    if len(case) != 3 or not isinstance(case[0], str):
                        continue
                    text, context, _ = case
                    if not (context is None or isinstance(context, Mapping)):
                        continue
                    try:
                        expr = feel.compile(text)
                    except FeelSyntaxError:
                        continue
                    recording = RecordingContext(dict(context or {}))
                    expr.evaluate(recording)
                    assert recording.read <= expr.free_names, text
                    checked += 1
        assert checked > 1000

    def test_never_misses_a_variable_in_random_expressions(self) -> None:
        import random

        rng = random.Random(20261128)
        fragments = (*TestRobustness.FRAGMENTS, "a", "b", "partial", "{a: ", "function(a)", "f")
        data = {"x": [1, {"z": 2}], "y": {"z": "a"}, "a": 1, "item": 2, "partial": [3], "f": 4}
        compiled = 0
        for _ in range(6000):
            text = " ".join(rng.choice(fragments) for _ in range(rng.randint(1, 8)))
            try:
                expr = feel.compile(text)
            except FeelSyntaxError:
                continue
            recording = RecordingContext(data)
            expr.evaluate(recording)
            assert recording.read <= expr.free_names, text
            compiled += 1
        assert compiled > 300
