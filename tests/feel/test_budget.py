"""The evaluation budget: wall-clock time and the size of built strings and lists.

A runaway expression stops with a clear failure (never a partial result), legitimate large
work completes, and the check costs nothing measurable on ordinary expressions.
"""

from __future__ import annotations

import time

import pytest

from connector import feel
from connector.feel import runtime

TIME_RUNAWAYS = [
    "some x in 1..1000000000 satisfies x < 0",
    "every x in 1..1000000000 satisfies x > 0",
    "count(for x in 1..1000000, y in 1..1000000 return null)",
    "{f: function(n) if n < 2 then n else f(n - 1) + f(n - 2), r: f(60)}.r",
    "[for x in 1..1000000000 return x][1]",
    "count([1,2,3][some y in 1..1000000000 satisfies y < 0])",
]


@pytest.mark.parametrize("text", TIME_RUNAWAYS)
def test_runaway_loops_stop_at_the_deadline(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(feel.FeelEvaluationError) as info:
        feel.compile(text).evaluate_checked({}, budget=0.2)
    elapsed = time.monotonic() - started
    assert info.value.budget_exceeded
    assert str(info.value) in (
        "evaluation exceeded its time budget",
        f"a list grew past {runtime.MAX_ITEMS} items",
    )
    assert elapsed < 5.0  # generous: the deadline is read every 1024 steps


SIZE_RUNAWAYS = [
    ('{f: function(s) f(s + s), r: f("ab")}.r', "a string grew past"),
    ("{f: function(s) f(concatenate(s, s)), r: f([1])}.r", "a list grew past"),
    ('{f: function(s) f(string join([s, s])), r: f("ab")}.r', "a string grew past"),
    ("for x in 1..3000000 return x", "a list grew past"),
]


@pytest.mark.parametrize(("text", "message"), SIZE_RUNAWAYS)
def test_growing_strings_and_lists_stop_at_the_size_limit(text: str, message: str) -> None:
    with pytest.raises(feel.FeelEvaluationError) as info:
        feel.compile(text).evaluate_checked({}, budget=60)
    assert info.value.budget_exceeded
    assert str(info.value).startswith(message)


def test_a_failed_budget_is_null_with_one_warning_in_the_forgiving_api() -> None:
    value, warnings = feel.evaluate_with_warnings(TIME_RUNAWAYS[0], budget=0.05)
    assert (value, warnings) == (None, ["evaluation exceeded its time budget"])
    assert feel.evaluate(TIME_RUNAWAYS[0], budget=0.05) is None


def test_the_budget_is_per_evaluation_not_per_expression() -> None:
    expression = feel.compile("count(for x in 1..5000 return x)")
    for _ in range(50):  # 250000 iterations in all, each evaluation well within budget
        assert expression.evaluate_checked({}, budget=5) == 5000


def test_legitimate_large_work_completes() -> None:
    assert feel.evaluate('count(for x in 0..1000000 return "Hi there")') == 1000001
    assert feel.evaluate('string length(string join(for x in 1..100000 return "abc"))') == 300000
