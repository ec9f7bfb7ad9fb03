"""Context built-ins."""

from __future__ import annotations

from typing import Any

import pytest

from connector.feel.values import FeelFunctionError
from tests.helpers.feel import call


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("get value", ({"foo": 123}, "foo"), 123),
        ("get value", ({"a": 1}, "b"), None),
        ("get value", ({"a": None}, "a"), None),
        ("get value", ({"x": 1, "y": {"z": 0}}, ["y", "z"]), 0),
        ("get value", ({"x": {"y": {"z": 0}}}, ["x", "y"]), {"z": 0}),
        ("get value", ({"a": {"b": 3}}, ["b"]), None),
        ("get value", ({"a": 1}, ["a", "b"]), None),
        ("get entries", ({"foo": 123},), [{"key": "foo", "value": 123}]),
        ("get entries", ({},), []),
        (
            "get entries",
            ({"a": "foo", "b": "bar"},),
            [{"key": "a", "value": "foo"}, {"key": "b", "value": "bar"}],
        ),
        ("context", ([{"key": "a", "value": 1}, {"key": "b", "value": 2}],), {"a": 1, "b": 2}),
        ("context", ([{"key": "a", "value": 1}, {"key": "a", "value": 2}],), {"a": 2}),
        ("context", ([{"key": "a", "value": 1, "ignored": "foo"}],), {"a": 1}),
        ("context", ([],), {}),
        ("context put", ({"x": 1}, "y", 2), {"x": 1, "y": 2}),
        ("context put", ({"x": 1}, "x", 2), {"x": 2}),
        ("context put", ({"x": 1}, ["y"], 2), {"x": 1, "y": 2}),
        ("context put", ({"x": 1, "y": {"z": 0}}, ["y", "z"], 2), {"x": 1, "y": {"z": 2}}),
        ("context put", ({"x": 1}, ["y", "z"], 2), {"x": 1, "y": {"z": 2}}),
        ("put", ({"x": 1}, "y", 2), {"x": 1, "y": 2}),
        ("context merge", ([{"x": 1}, {"y": 2}],), {"x": 1, "y": 2}),
        ("context merge", ([{"x": 1, "y": 0}, {"y": 2}],), {"x": 1, "y": 2}),
        ("context merge", ([{"a": {"aa": 1}}, {"a": {"bb": 2}}],), {"a": {"bb": 2}}),
        ("context merge", ([],), {}),
        ("put all", ({"x": 1}, {"y": 2}), {"x": 1, "y": 2}),
    ],
)
def test_context_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args) == expected


def test_context_put_does_not_modify_its_input() -> None:
    original = {"x": {"y": 1}}
    call("context put", original, ["x", "y"], 2)
    assert original == {"x": {"y": 1}}


def test_get_value_named_parameters() -> None:
    assert call("get value", key="a", m={"a": "foo"}) == "foo"
    assert call("get value", context={"a": {"b": 1}}, keys=["a", "b"]) == 1
    assert call("get entries", m={"a": 1}) == [{"key": "a", "value": 1}]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("get value", (None, "a")),
        ("get value", ({"a": 1}, 1)),
        ("get value", ({"a": 1}, [])),
        ("get entries", (None,)),
        ("get entries", ([1, 2],)),
        ("context", ({"key": None, "value": 1},)),
        ("context", ([{"key": 1, "value": 1}],)),
        ("context", ([{"key": "a"}],)),
        ("context", ("foo",)),
        ("context put", ({"x": 1}, [], 2)),
        ("context put", (None, "a", 1)),
        ("context merge", (None,)),
        ("context merge", ([1, 2, 3],)),
        ("context merge", ([{"a": 1}, 2, {"b": 2}],)),
    ],
)
def test_context_functions_reject_invalid_arguments(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=f"^{name}: "):
        call(name, *args)
