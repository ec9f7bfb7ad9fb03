"""Context functions: get value, get entries, context, context put, context merge."""

from __future__ import annotations

from typing import Any

from connector.feel.builtins._util import (
    Table,
    context_arg,
    describe,
    fail,
    fn,
    list_arg,
    spread,
    string,
    table,
)


def _keys(name: str, key: Any) -> list[str]:
    """A single key or a non-empty list of keys (a path into nested contexts)."""
    if isinstance(key, str):
        return [key]
    keys = list_arg(name, key, "keys")
    if not keys:
        raise fail(name, "parameter 'keys' must not be empty")
    return [string(name, k, "keys") for k in keys]


def _get_value(context: Any, key: Any) -> Any:
    name = "get value"
    current: Any = context_arg(name, context, "context")
    for k in _keys(name, key):
        if not isinstance(current, dict):
            return None
        current = current.get(k)
    return current


def _get_entries(context: Any) -> list[dict[str, Any]]:
    entries = context_arg("get entries", context, "context")
    return [{"key": k, "value": v} for k, v in entries.items()]


def _context(entries: Any) -> dict[str, Any]:
    name = "context"
    result: dict[str, Any] = {}
    for entry in list_arg(name, entries, "entries"):
        if not isinstance(entry, dict) or "key" not in entry or "value" not in entry:
            raise fail(name, "each entry must be a context with 'key' and 'value'")
        key = entry["key"]
        if not isinstance(key, str):
            raise fail(name, f"an entry key must be a string, got {describe(key)}")
        result[key] = entry["value"]
    return result


def _put(context: Any, key: Any, value: Any) -> dict[str, Any]:
    name = "context put"
    base = context_arg(name, context, "context")
    keys = _keys(name, key)
    return _put_path(base, keys, value)


def _put_path(base: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    head, rest = keys[0], keys[1:]
    result = dict(base)
    if rest:
        inner = base.get(head)
        result[head] = _put_path(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        result[head] = value
    return result


def _merge(contexts: Any) -> dict[str, Any]:
    name = "context merge"
    result: dict[str, Any] = {}
    for item in list_arg(name, contexts, "contexts"):
        result.update(context_arg(name, item, "contexts"))
    return result


BUILTINS: Table = table(
    fn("get value", "context, key", _get_value),
    fn("get value", "context, keys", _get_value),
    fn("get value", "m, key", _get_value),
    fn("get entries", "context", _get_entries),
    fn("get entries", "m", _get_entries),
    fn("context", "entries", _context),
    fn("context put", "context, key, value", _put),
    fn("context put", "context, keys, value", _put),
    # deprecated Camunda names, still accepted by feel-scala
    fn("put", "context, key, value", _put),
    # variadic like feel-scala: context merge([a, b]) and context merge(a, b) alike;
    # put all is the deprecated name of the same function
    fn("context merge", "contexts...", lambda *contexts: _merge(spread("context merge", contexts))),
    fn("put all", "contexts...", lambda *contexts: _merge(spread("context merge", contexts))),
)
