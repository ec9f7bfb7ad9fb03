"""Evaluation semantics: operators, null handling, paths, filters, iteration, functions."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pytest

from connector.feel import YearsMonthsDuration, evaluate, evaluate_with_warnings


def ev(text: str, **context: Any) -> Any:
    return evaluate(text, context)


class TestNumbersAndStrings:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0.1 + 0.2 = 0.3", True),
            ("1 + 2 * 3", 7),
            ("(1 + 2) * 3", 9),
            ("10 - 4 - 3", 3),
            ("7 / 2", 3.5),
            ("2 ** 10", 1024),
            ("-(3)", -3),
            ("- x", -4),
            ('"a" + "b"', "ab"),
            ("1 / 3 * 3", Decimal("0.9999999999999999999999999999999999")),
        ],
    )
    def test_arithmetic(self, text: str, expected: Any) -> None:
        assert ev(text, x=4) == expected

    @pytest.mark.parametrize("text", ["1 / 0", '1 + "a"', "null + 1", '"a" * 2', "10 ** 100000"])
    def test_undefined_arithmetic_is_null(self, text: str) -> None:
        assert ev(text) is None

    def test_type_mismatch_warns(self) -> None:
        value, warnings = evaluate_with_warnings('1 + "a"')
        assert value is None
        assert any("'+'" in w for w in warnings)


class TestComparisonAndLogic:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("null = null", True),
            ("1 = null", False),
            ("null != 1", True),
            ("1 < null", None),
            ('1 = "1"', None),
            ('"abc" < "abd"', True),
            ("[1, 2] = [1, 2]", True),
            ("{a: 1} = {a: 1}", True),
            ("{a: 1} = {a: 2}", False),
            ("true and null", None),
            ("false and null", False),
            ("null and false", False),
            ("true or null", True),
            ("null or false", None),
            ("false or false", False),
            ('"x" and true', None),
            ("not(null)", None),
            ("5 between 1 and 10", True),
            ("11 between 1 and 10", False),
            ('5 between 1 and "x"', None),
        ],
    )
    def test_three_valued_results(self, text: str, expected: Any) -> None:
        assert ev(text) is expected

    def test_and_short_circuits(self) -> None:
        value, warnings = evaluate_with_warnings("false and missing.thing")
        assert value is False
        assert warnings == []

    def test_comparison_of_raw_numbers_from_context(self) -> None:
        assert ev("x > 10", x=11) is True
        assert ev("x > 10.5", x=11) is True
        assert ev("x = 0.1", x=0.1) is True
        assert ev("x < y", x=1, y=1.5) is True


class TestPathsAndFilters:
    def test_missing_variable_is_null_with_warning(self) -> None:
        value, warnings = evaluate_with_warnings("missing")
        assert value is None
        assert warnings == ["No variable found with name 'missing'"]

    def test_missing_member_is_null_with_warning(self) -> None:
        value, warnings = evaluate_with_warnings("a.b", {"a": {"c": 1}})
        assert value is None
        assert warnings == ["No context entry found with key 'b'"]

    def test_nested_path(self) -> None:
        assert ev("a.b.c", a={"b": {"c": 3}}) == 3

    def test_projection_over_list(self) -> None:
        labels = [{"name": "bug"}, {"name": "needs review"}, {"other": 1}]
        assert ev("(body.labels).name", body={"labels": labels}) == ["bug", "needs review", None]

    def test_filter_by_member_and_item(self) -> None:
        items = [{"price": 5}, {"price": 15}, {"price": 25.5}, {"cost": 99}]
        assert ev("items[price > 10]", items=items) == [{"price": 15}, {"price": 25.5}]
        assert ev("[1, 5, 10][item >= 5]", items=items) == [5, 10]

    def test_filter_member_falls_back_to_outer_variable(self) -> None:
        items = [{"price": 5}, {"cost": 99}]
        assert ev("items[limit = 3]", items=items, limit=3) == items

    def test_context_entry_named_item_wins(self) -> None:
        assert ev("[{item: 1}, {item: 2}][item >= 2]") == [{"item": 2}]

    @pytest.mark.parametrize(("index", "expected"), [("1", "a"), ("-1", "c"), ("2", "b")])
    def test_numeric_index(self, index: str, expected: str) -> None:
        assert ev(f'["a", "b", "c"][{index}]') == expected

    def test_index_out_of_range_is_null(self) -> None:
        value, warnings = evaluate_with_warnings("[1, 2][5]")
        assert value is None and warnings

    def test_dynamic_numeric_index(self) -> None:
        assert ev("[10, 20, 30][i]", i=2) == 20

    def test_filter_on_non_list_value_is_null(self) -> None:
        value, warnings = evaluate_with_warnings("5[item > 3]")
        assert value is None and warnings
        assert ev('"a"[1]') is None

    def test_filter_of_null_is_null(self) -> None:
        assert ev("x[item > 1]", x=None) is None

    def test_chained_filter_and_path(self) -> None:
        rows = [{"dept": 10, "name": "A"}, {"dept": 20, "name": "B"}, {"dept": 20, "name": "C"}]
        assert ev("rows[dept = 20].name", rows=rows) == ["B", "C"]
        assert ev("rows[dept = 20].name[1]", rows=rows) == "B"

    def test_filter_with_function_in_condition_keeps_scopes_apart(self) -> None:
        text = "for f in [1, 2][(function(x) x + item)(0) > 1] return f"
        assert ev(text) == [2]


class TestContextsListsRanges:
    def test_later_entries_see_earlier_ones(self) -> None:
        assert ev("{a: 1, b: a + 1, c: b * 10}") == {"a": 1, "b": 2, "c": 20}

    def test_context_keys_with_spaces_and_strings(self) -> None:
        assert ev('{"b c": 2, first name: "x"}') == {"b c": 2, "first name": "x"}

    def test_nested_structures(self) -> None:
        assert ev("{a: [1, {b: [2]}]}.a[2].b[1]") == 2

    def test_range_membership(self) -> None:
        assert ev("5 in [1..10]") is True
        assert ev("10 in [1..10)") is False
        assert ev("1 in ]1..10]") is False
        assert ev("x in (< 3, > 4)", x=5) is True
        assert ev('"b" in ["a", "b"]') is True
        assert ev("3 in not(1, 2)") is True

    def test_unary_tests_list_folds_nulls(self) -> None:
        assert ev('5 in (1, "a")') is None
        assert ev('5 in (5, "a")') is True
        assert ev("5 in (1, 2)") is False

    def test_unary_test_with_input_value(self) -> None:
        assert ev("5 in (? > 3)") is True

    def test_range_properties(self) -> None:
        assert ev("[1..10).end included") is False
        assert ev("[1..10).start") == 1


class TestIteration:
    def test_for_over_lists_and_ranges(self) -> None:
        assert ev("for x in [1, 2, 3] return x * 2") == [2, 4, 6]
        assert ev("for x in 1..3 return x") == [1, 2, 3]
        assert ev("for x in 3..1 return x") == [3, 2, 1]
        assert ev("for x in [1, 2], y in [10, 20] return x + y") == [11, 21, 12, 22]

    def test_partial_results(self) -> None:
        text = "for i in 1..5 return if i = 1 then 1 else i * partial[-1]"
        assert ev(text) == [1, 2, 6, 24, 120]

    def test_later_iteration_context_sees_earlier_variable(self) -> None:
        assert ev("for x in [1, 2], y in x..2 return [x, y]") == [[1, 1], [1, 2], [2, 2]]

    def test_quantifiers(self) -> None:
        assert ev("some x in [1, 2, 3] satisfies x > 2") is True
        assert ev("every x in [1, 2, 3] satisfies x > 0") is True
        assert ev("every x in [1, 2, 3] satisfies x > 1") is False
        assert ev("some x in [] satisfies x > 1") is False

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('some x in [1, "a"] satisfies x > 0', True),
            ('some x in ["a"] satisfies x > 0', None),
            ('every x in [1, "a"] satisfies x > 0', None),
            ('every x in [1, 0, "a"] satisfies x > 0', False),
            ("every x in [] satisfies x > 0", True),
            ("some x in [1, 2], y in [3, 4] satisfies x + y = 6", True),
            ("every x in [1, 2], y in [3, 4] satisfies x + y > 4", False),
        ],
    )
    def test_quantifiers_fold_nulls(self, text: str, expected: Any) -> None:
        assert ev(text) is expected

    def test_huge_range_is_bounded_by_the_time_budget(self) -> None:
        start = time.monotonic()
        value, warnings = evaluate_with_warnings(
            "some x in 1..100000000 satisfies x < 0", budget=0.2
        )
        assert value is None
        assert warnings == ["evaluation exceeded its time budget"]
        assert time.monotonic() - start < 5

    def test_huge_nested_iteration_is_bounded_by_the_size_budget(self) -> None:
        value, warnings = evaluate_with_warnings(
            "for x in 1..2000, y in 1..2000 return 1", budget=60
        )
        assert value is None
        assert warnings == ["a list grew past 2000000 items"]


class TestFunctions:
    def test_positional_and_named_invocation(self) -> None:
        assert ev("{f: function(a, b) a - b, r: f(5, 1)}.r") == 4
        assert ev("{f: function(a, b) a - b, r: f(b: 1, a: 5)}.r") == 4

    def test_recursive_function(self) -> None:
        text = "{fac: function(n) if n <= 1 then 1 else n * fac(n - 1), r: fac(10)}.r"
        assert ev(text) == 3628800

    def test_closure_captures_scope(self) -> None:
        assert ev("{k: 10, f: function(x) x + k}.f(1)") == 11

    def test_function_may_call_a_later_entry(self) -> None:
        assert ev("{g: function() h(), h: function() 7, r: g()}.r") == 7

    def test_variable_that_is_no_function_does_not_hide_a_builtin(self) -> None:
        assert ev("{count: 5, r: count([1, 2])}.r") == 2

    def test_calling_a_non_function_is_null(self) -> None:
        value, warnings = evaluate_with_warnings("x(1)", {"x": 5})
        assert value is None
        assert warnings == ["'x' is not a function"]

    def test_wrong_argument_count_is_null(self) -> None:
        value, warnings = evaluate_with_warnings("(function(a) a)(1, 2)")
        assert value is None and warnings

    def test_builtin_with_user_function_argument(self) -> None:
        assert ev("sort([3, 1, 2], function(x, y) x > y)") == [3, 2, 1]

    def test_builtin_named_parameters(self) -> None:
        assert ev('substring(string: "abcdef", start position: 3, length: 2)') == "cd"

    def test_unknown_function_is_null(self) -> None:
        value, warnings = evaluate_with_warnings("no such fn(1)")
        assert value is None
        assert any("no such fn" in w for w in warnings)

    def test_builtin_failure_is_null_with_warning(self) -> None:
        value, warnings = evaluate_with_warnings('date("not a date")')
        assert value is None and warnings

    def test_is_defined_is_false_for_missing_and_null(self) -> None:
        assert ev("is defined(x)", x=0) is True
        assert ev("is defined(x)") is False
        assert ev("is defined(x)", x=None) is False
        assert ev("is defined(a.b)", a={"c": 1}) is False
        assert ev("is defined(a.c)", a={"c": None}) is False
        assert ev("is defined(a.c)", a={"c": "v"}) is True

    def test_is_defined_does_not_warn(self) -> None:
        assert evaluate_with_warnings("is defined(a.b)", {"a": {}}) == (False, [])

    def test_partial_is_a_snapshot(self) -> None:
        assert ev("for x in 1..3 return partial") == [[], [[]], [[], [[]]]]

    def test_runaway_recursion_is_bounded(self) -> None:
        text = "{f: function(n) f(n + 1), r: f(0)}.r"
        value, warnings = evaluate_with_warnings(text)
        assert value is None and warnings

    def test_exponential_recursion_is_bounded(self) -> None:
        text = "{f: function(n) if n < 2 then n else f(n - 1) + f(n - 2), r: f(40)}.r"
        start = time.monotonic()
        value, warnings = evaluate_with_warnings(text, budget=0.3)
        assert value is None
        assert warnings == ["evaluation exceeded its time budget"]
        assert time.monotonic() - start < 5


class TestControlFlowAndTypes:
    def test_if_treats_null_as_false(self) -> None:
        assert ev("if x then 1 else 2", x=None) == 2
        assert ev('if "yes" then 1 else 2') == 2
        assert ev("if x > 1 then 1 else 2", x=5) == 1

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1 instance of number", True),
            ('"a" instance of string', True),
            ("null instance of number", False),
            ('date("2024-01-01") instance of date', True),
            ('@"2024-01-01T10:00:00" instance of date and time', True),
            ('@"P1D" instance of days and time duration', True),
            ("[1, 2] instance of list", True),
            ("{a: 1} instance of context", True),
        ],
    )
    def test_instance_of(self, text: str, expected: bool) -> None:
        assert ev(text) is expected


class TestTemporal:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('date("2024-01-31") + duration("P1M")', dt.date(2024, 2, 29)),
            ('date("2024-03-01") - duration("P1D")', dt.date(2024, 2, 29)),
            ('date("2024-03-01") - date("2024-02-01")', dt.timedelta(days=29)),
            ('@"2024-01-01T10:00:00" + @"PT90M"', dt.datetime(2024, 1, 1, 11, 30)),
            ('@"23:00:00" + @"PT2H"', dt.time(1, 0)),
            ('@"10:00:00" - @"08:30:00"', dt.timedelta(hours=1, minutes=30)),
            ('@"PT1H" * 2', dt.timedelta(hours=2)),
            ('@"P1D" / 2', dt.timedelta(hours=12)),
            ('@"P1D" / @"PT1H"', 24),
            ('@"P1Y" + @"P2M"', YearsMonthsDuration(14)),
            ('-@"P1D"', dt.timedelta(days=-1)),
        ],
    )
    def test_arithmetic(self, text: str, expected: Any) -> None:
        assert ev(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('@"2024-05-17".year', 2024),
            ('@"2024-05-17".month', 5),
            ('@"2024-05-17".weekday', 5),
            ('@"2024-05-17T10:20:30+02:00".hour', 10),
            ('@"2024-05-17T10:20:30+02:00".time offset', dt.timedelta(hours=2)),
            ('@"P2DT3H".days', 2),
            ('@"P2DT3H".hours', 3),
            ('@"P1Y6M".years', 1),
            ('@"P1Y6M".months', 6),
        ],
    )
    def test_properties(self, text: str, expected: Any) -> None:
        assert ev(text) == expected

    def test_comparisons(self) -> None:
        assert ev('@"2024-01-01" < @"2024-01-02"') is True
        assert ev('@"P1D" > @"PT23H"') is True
        assert ev('@"2024-01-01" < 5') is None

    def test_temporal_values_from_context(self) -> None:
        day = dt.date(2024, 1, 1)
        assert ev('d + duration("P1D")', d=day) == dt.date(2024, 1, 2)
        assert ev("t.hour", t=dt.datetime(2024, 1, 1, 7, tzinfo=dt.UTC)) == 7

    def test_unknown_property_warns(self) -> None:
        value, warnings = evaluate_with_warnings('@"2024-01-01".hour')
        assert value is None and warnings


class TestFastPathsAgreeWithDecimalSemantics:
    """Specialised closures must give exactly the answers of decimal arithmetic."""

    FLOATS = (0.1, 0.2, 0.30000000000000004, 10.0, 10.5, 24.99, -3.25, 1e-7, 1e20, 2.5)
    CONSTANTS = ("0.1", "0.3", "10", "10.5", "-3.25", "0.0000001", "100000000000000000000")
    OPS = ("=", "!=", "<", "<=", ">", ">=")

    @staticmethod
    def expected(value: float, op: str, const: str) -> bool:
        a, b = Decimal(repr(value)), Decimal(const)
        return {
            "=": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[op]

    @pytest.mark.parametrize("op", OPS)
    def test_member_filter_on_floats(self, op: str) -> None:
        items = [{"v": f} for f in self.FLOATS]
        for const in self.CONSTANTS:
            got = ev(f"items[v {op} {const}]", items=items)
            want = [i for i in items if self.expected(i["v"], op, const)]
            assert got == want, (op, const)

    @pytest.mark.parametrize("op", OPS)
    def test_comparison_on_floats(self, op: str) -> None:
        for value in self.FLOATS:
            for const in self.CONSTANTS:
                assert ev(f"x {op} {const}", x=value) is self.expected(value, op, const)
                assert ev(f"a.x {op} {const}", a={"x": value}) is self.expected(value, op, const)

    def test_non_finite_floats_are_null(self) -> None:
        items = [{"v": float("inf")}, {"v": float("nan")}, {"v": 11.0}]
        assert ev("items[v > 10]", items=items) == [{"v": 11.0}]
        assert ev("items[v != 10]", items=items) == [{"v": 11.0}]
        assert ev("x > 10", x=float("inf")) is None

    def test_member_filter_mixed_types_use_general_semantics(self) -> None:
        items = [
            {"v": 11},
            {"v": "11"},
            {"v": None},
            {"v": True},
            {"w": 1},
            5,
            {"v": Decimal("12")},
        ]
        assert ev("items[v > 10]", items=items) == [{"v": 11}, {"v": Decimal("12")}]
        assert ev('items[v = "11"]', items=items) == [{"v": "11"}]
