"""Nesting and size limits: deep brackets, long flat chains, deep callers and small stacks.

Within the limits an expression must compile and evaluate whatever the caller's stack
looks like; beyond them compiling fails with ``FeelSyntaxError``, never with a
``RecursionError``, a crash or a hang.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connector import feel
from connector.feel import FeelSyntaxError
from connector.feel.compiler import _ARITH_STEPS, _arith2
from connector.feel.parser import MAX_NESTING, MAX_TREE_DEPTH

_T = TypeVar("_T")
LEVELS = 100  # bracket nesting every kind of bracket must support
TERMS = 5000  # terms a flat chain must support


def _nested_list(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# (name, expression nested `LEVELS` brackets deep, its value with x = 2)
NESTED: list[tuple[str, str, Any]] = [
    ("parentheses", "(" * LEVELS + "1" + ")" * LEVELS, 1),
    ("sums-in-parentheses", "(1 + " * LEVELS + "1" + ")" * LEVELS, LEVELS + 1),
    ("lists", "[" * LEVELS + "1" + "]" * LEVELS, _nested_list(LEVELS)),
    ("contexts", "{a: " * LEVELS + "1" + "}" * LEVELS + ".a" * LEVELS, 1),
    ("calls", "abs(" * LEVELS + "-1" + ")" * LEVELS, 1),
    ("not", "not(" * LEVELS + "true" + ")" * LEVELS, True),
    ("ifs", "if true then " * LEVELS + "1" + " else 0" * LEVELS, 1),
    ("fors", "for a in [1] return " * (LEVELS - 1) + "a", _nested_list(LEVELS - 1)),
    ("filters", "[1, 2, 3][" * LEVELS + "1" + "]" * LEVELS, 1),
    # a function body is a level of its own, as is the bracket around it
    ("functions", "(function(a) " * (LEVELS // 2) + "a" + ")(1)" * (LEVELS // 2), 1),
    ("unary-minus", "-" * LEVELS + "x", 2),
    ("in-tests", "x in (" + "(" * (LEVELS - 1) + "2" + ")" * LEVELS, True),
    ("mixed", "{v: [abs(-(1 + " * 20 + "1" + "))]}.v[1]" * 20, 21),
]


def _at_stack_depth(depth: int, task: Callable[[], _T]) -> _T:
    """Run ``task`` with ``depth`` more frames on the stack."""
    if depth <= 0:
        return task()
    return _at_stack_depth(depth - 1, task)


def _frames() -> int:
    frame = sys._getframe()
    count = 0
    while frame is not None:
        count += 1
        frame = frame.f_back  # type: ignore[assignment]
    return count


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in NESTED], ids=[c[0] for c in NESTED])
def test_hundred_levels_of_nesting_work(text: str, expected: Any) -> None:
    assert feel.compile(text).evaluate_with_warnings({"x": 2}) == (expected, [])


@pytest.mark.parametrize("opener", ["(", "[", "{a: ", "abs(", "x[", "if true then ", "-"])
def test_nesting_limit_is_exact_and_a_syntax_error(opener: str) -> None:
    closer = {"(": ")", "[": "]", "{a: ": "}", "abs(": ")", "x[": "]", "-": ""}.get(opener)
    closer = " else 0" if opener.startswith("if") else closer
    assert closer is not None
    # the whole expression is one level, each opener adds one
    inside = MAX_NESTING - 1
    feel.compile(opener * inside + "1" + closer * inside)
    with pytest.raises(FeelSyntaxError) as info:
        feel.compile(opener * (inside + 1) + "1" + closer * (inside + 1))
    assert f"limit {MAX_NESTING}" in info.value.expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(" + ".join(["1"] * TERMS), TERMS, id="sum"),
        pytest.param("0" + " - 1" * TERMS, -TERMS, id="difference"),
        pytest.param(" + ".join(["1", "2 - 1"] * (TERMS // 2)), TERMS, id="plus-minus"),
        pytest.param(" * ".join(["1"] * TERMS), 1, id="product"),
        pytest.param("2" + " / 1" * TERMS, 2, id="quotient"),
        pytest.param(" + ".join(['"a"'] * TERMS), "a" * TERMS, id="concatenation"),
        pytest.param(" or ".join(f"x = {i}" for i in range(TERMS)), True, id="or"),
        pytest.param(" and ".join(f"x >= {-i}" for i in range(TERMS)), True, id="and"),
        pytest.param(
            "".join(f"if x={i} then {i} else " for i in range(3000)) + "-1", 7, id="else-if"
        ),
        pytest.param("count([" + ", ".join(["1"] * TERMS) + "])", TERMS, id="list"),
        pytest.param(
            "{" + ", ".join(f"k{i}: {i}" for i in range(TERMS)) + "}.k4999", 4999, id="context"
        ),
        pytest.param(
            "{k0: 0, " + ", ".join(f"k{i}: k{i - 1} + 1" for i in range(1, TERMS)) + "}.k4999",
            4999,
            id="context-chain",
        ),
        pytest.param(
            "[" + ", ".join(f"x + {i}" for i in range(TERMS)) + "][-1]", 7 + 4999, id="list-exprs"
        ),
    ],
)
def test_flat_chains_of_thousands_of_terms(text: str, expected: Any) -> None:
    started = time.perf_counter()
    value, warnings = feel.compile(text).evaluate_with_warnings({"x": 7})
    assert (value, warnings) == (expected, [])
    assert time.perf_counter() - started < 5


def test_flat_chain_needs_no_stack_per_term(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fresh_stack(task: Callable[[], Any]) -> Any:
        raise AssertionError("ran out of stack")

    monkeypatch.setattr(feel, "_on_fresh_stack", no_fresh_stack)
    text = " + ".join(["x"] * TERMS)
    # compiled and evaluated with only a few dozen frames to spare
    spare = 60
    value = _at_stack_depth(
        sys.getrecursionlimit() - _frames() - spare, lambda: feel.compile(text).evaluate({"x": 1})
    )
    assert value == TERMS


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" + ".a" * (MAX_TREE_DEPTH + 1), id="path"),
        pytest.param("x" + "[1]" * (MAX_TREE_DEPTH + 1), id="index"),
        pytest.param("x" + " = x" * (MAX_TREE_DEPTH + 1), id="comparisons"),
        pytest.param("(a or b and c = d + e * f ** " * 60 + "1" + ")" * 60, id="precedences"),
    ],
)
def test_trees_deeper_than_the_limit_are_syntax_errors(text: str) -> None:
    with pytest.raises(FeelSyntaxError) as info:
        feel.compile(text)
    assert f"at most {MAX_TREE_DEPTH} levels" in info.value.expected


@pytest.mark.parametrize("deep", [False, True], ids=["shallow-caller", "deep-caller"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("(" * LEVELS + "x" + ")" * LEVELS, 1, id="parentheses"),
        pytest.param("[" * LEVELS + "x" + "]" * LEVELS + "[1]" * LEVELS, 1, id="lists"),
        pytest.param(" + ".join(["x"] * TERMS), TERMS, id="sum"),
        pytest.param("(" * 20_000 + "x" + ")" * 20_000, FeelSyntaxError, id="too-deep"),
        pytest.param("[" * 200 + "]" * 200, FeelSyntaxError, id="too-deep-lists"),
        pytest.param("-" * 20_000 + "x", FeelSyntaxError, id="too-many-minus"),
    ],
)
def test_callers_deep_in_their_own_stack(text: str, expected: Any, deep: bool) -> None:
    spare = 40 if deep else sys.getrecursionlimit() - _frames()

    def work() -> Any:
        try:  # not feel.compile: nothing may come from its cache
            return feel.Expression(text).evaluate_with_warnings({"x": 1})
        except FeelSyntaxError:
            return FeelSyntaxError

    outcome = _at_stack_depth(sys.getrecursionlimit() - _frames() - spare, work)
    assert outcome == expected or outcome == (expected, [])


def test_deep_data_in_the_result_does_not_raise() -> None:
    data: Any = {"leaf": 1}
    for _ in range(5000):
        data = {"a": data}
    assert feel.evaluate("[x]", {"x": data}) is None
    value, warnings = feel.evaluate_with_warnings("[x]", {"x": data})
    assert value is None and warnings == ["evaluation nested too deeply"]


def test_small_thread_stack_never_crashes() -> None:
    """Deep parsing, evaluation and runaway recursion on a 64 KiB thread stack.

    Run in a child process: a C stack overflow would kill the test process.
    """
    script = textwrap.dedent(
        """
        import threading
        from connector import feel

        results = []

        def work():
            def outcome(text, context=None):
                try:
                    return feel.compile(text).evaluate_with_warnings(context or {})
                except feel.FeelSyntaxError:
                    return "syntax error"

            results.append(outcome("(" * 100 + "1" + ")" * 100))
            results.append(outcome(" + ".join(["1"] * 5000)))
            results.append(outcome("(" * 20000 + "1" + ")" * 20000))
            results.append(outcome("{f: function(n) f(n + 1), r: f(0)}.r"))
            data = {"leaf": 1}
            for _ in range(5000):
                data = {"a": data}
            results.append(outcome("x = x", {"x": data}))

        threading.stack_size(64 * 1024)
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        print(repr(results))
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = eval(done.stdout)
    assert results[0] == (1, [])
    assert results[1] == (5000, [])
    assert results[2] == "syntax error"
    assert results[3] == (None, ["evaluation nested too deeply"])
    assert results[4] == (None, ["evaluation nested too deeply"])


# ---------------------------------------------------------------- chains = nested binaries

TRUTH = [True, False, None, "text"]


@pytest.mark.parametrize("op", ["and", "or"])
def test_long_boolean_chains_agree_with_nested_binary_operations(op: str) -> None:
    names = ["a", "b", "c", "d"]
    flat = feel.compile(f" {op} ".join(names))  # one loop
    nested = feel.compile(f"a {op} (b {op} (c {op} d))")  # binary operations
    for values in itertools.product(TRUTH, repeat=len(names)):
        context = dict(zip(names, values, strict=True))
        assert flat.evaluate(context) == nested.evaluate(context), context


ARITH_VALUES: list[Any] = [
    Decimal(3),
    Decimal("0.5"),
    Decimal(0),
    Decimal("1E+6000"),
    "s",
    None,
    True,
    [1],
]


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_chain_steps_agree_with_binary_operations(op: str) -> None:
    import datetime as dt

    values = [*ARITH_VALUES, dt.date(2024, 1, 31), dt.timedelta(days=1)]
    step = _ARITH_STEPS[op]
    for a, b in itertools.product(values, repeat=2):
        binary_state: list[Any] = [0, {}]
        step_state: list[Any] = [0, {}]
        binary = _arith2(op, lambda s, v=a: v, lambda s, v=b: v)([{}, None, binary_state, None])
        stepped = step(a, b, [{}, None, step_state, None])
        assert (stepped, step_state) == (binary, binary_state), (a, op, b)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1 " + "/* " * 33_000, id="unclosed-comments"),
        pytest.param("{a: " * 120 + " + ".join(["x"] * 20_000) + "}" * 120, id="nested-contexts"),
        pytest.param("x[" * 120 + " + ".join(["x"] * 20_000) + "]" * 120, id="nested-filters"),
        pytest.param("for a in x return " * 120 + " + ".join(["x"] * 20_000), id="nested-fors"),
        pytest.param("x in (" * 120 + " + ".join(["x"] * 20_000) + ")" * 120, id="nested-tests"),
    ],
)
def test_big_and_deep_at_once_compiles_in_linear_time(text: str) -> None:
    # each took seconds to minutes when every level re-scanned what it contains
    started = time.perf_counter()
    with contextlib.suppress(FeelSyntaxError):
        feel.compile(text).evaluate({"x": 1})
    assert time.perf_counter() - started < 5
