"""The built-in table itself (the ``call`` helper lives in :mod:`tests.helpers.feel`)."""

from __future__ import annotations

import pytest

from connector.feel.builtins import BUILTINS
from tests.helpers.feel import call

# feel-scala's parameter names: used for named invocation, so they must be exact
EXPECTED_SIGNATURES = {
    "substring": [("string", "start position"), ("string", "start position", "length")],
    "string length": [("string",)],
    "contains": [("string", "match")],
    "starts with": [("string", "match")],
    "matches": [("input", "pattern"), ("input", "pattern", "flags")],
    "replace": [
        ("input", "pattern", "replacement"),
        ("input", "pattern", "replacement", "flags"),
    ],
    "split": [("string", "delimiter")],
    "string join": [("list",), ("list", "delimiter"), ("list", "delimiter", "prefix", "suffix")],
    "list contains": [("list", "element")],
    "insert before": [("list", "position", "newItem")],
    "sort": [("list", "precedes")],
    "modulo": [("dividend", "divisor")],
    "abs": [("n",), ("number",)],
    "sqrt": [("number",)],
    "decimal": [("n", "scale"), ("n", "scale", "mode")],
    "number": [
        ("from",),
        ("from", "grouping separator"),
        ("from", "grouping separator", "decimal separator"),
    ],
    "date": [("from",), ("year", "month", "day")],
    "time": [("from",), ("hour", "minute", "second"), ("hour", "minute", "second", "offset")],
    "date and time": [("from",), ("date", "time"), ("date", "timezone")],
    "years and months duration": [("from", "to")],
    "get value": [("context", "key"), ("context", "keys"), ("m", "key")],
    "context put": [("context", "key", "value"), ("context", "keys", "value")],
    "context merge": [("contexts",)],
    "not": [("negand",)],
    "get or else": [("value", "default")],
    "day of week": [("date",)],
    "before": [("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2")],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIGNATURES))
def test_parameter_names_match_feel_scala(name: str) -> None:
    actual = [tuple(p.name for p in f.params) for f in BUILTINS[name]]
    assert actual == EXPECTED_SIGNATURES[name]


def test_every_overload_is_named_after_its_key_and_unique() -> None:
    assert len(BUILTINS) > 100
    for name, overloads in BUILTINS.items():
        signatures = [tuple(p.name for p in f.params) for f in overloads]
        assert len(set(signatures)) == len(signatures), name
        for f in overloads:
            assert f.name == name
            variadic = [p for p in f.params if p.variadic]
            assert not variadic or f.params[-1].variadic, name


def test_list_or_varargs_functions_are_variadic() -> None:
    for name in ("min", "max", "sum", "mean", "median", "stddev", "mode", "product"):
        (f,) = BUILTINS[name]
        assert [(p.name, p.variadic) for p in f.params] == [("list", True)]
    assert [p.variadic for p in BUILTINS["append"][0].params] == [False, True]
    assert [p.name for p in BUILTINS["concatenate"][0].params] == ["lists"]


def test_call_helper_resolves_named_arguments() -> None:
    assert call("substring", string="foobar", start_position=3) == "obar"
    assert call("get value", key="a", m={"a": "foo"}) == "foo"
    with pytest.raises(LookupError):
        call("sqrt", n=4)
