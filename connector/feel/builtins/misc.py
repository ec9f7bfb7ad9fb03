"""Miscellaneous functions: ``is`` and the Camunda ``fromAi`` marker."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from connector.feel.builtins._util import Table, fn, table
from connector.feel.semantics import feel_equal, type_name


def _is(value1: Any, value2: Any) -> bool:
    """Same type and same value; temporals must also agree on their zone/offset."""
    if type_name(value1) != type_name(value2):
        return False
    if isinstance(value1, _dt.datetime | _dt.time):
        return bool(value1 == value2 and value1.tzinfo == value2.tzinfo)
    return feel_equal(value1, value2) is True


def _identity(value: Any, *_hints: Any) -> Any:
    # fromAi only tags a value for AI integrations; the engine returns it unchanged
    return value


BUILTINS: Table = table(
    fn("is", "value1, value2", _is),
    fn("fromAi", "value, description?, type?, schema?, options?", _identity),
)
