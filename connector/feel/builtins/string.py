"""String functions, including the regular expression based ones."""

from __future__ import annotations

import base64
import binascii
import unicodedata
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from connector.feel.builtins import _regex
from connector.feel.builtins._util import (
    Table,
    describe,
    fail,
    fn,
    integer,
    list_arg,
    string,
    table,
)

_T = TypeVar("_T")


def _substring(value: Any, start: Any, length: Any = None) -> str:
    name = "substring"
    text = string(name, value, "string")
    first = integer(name, start, "start position")
    # positions are 1-based; negative positions count from the end (-1 = last)
    index = first - 1 if first > 0 else len(text) + first
    if index < 0 or index > len(text):
        raise fail(name, f"start position {first} is outside the string")
    if length is None:
        return text[index:]
    count = integer(name, length, "length")
    if count < 0:
        raise fail(name, "parameter 'length' must not be negative")
    return text[index : index + count]


def _string_length(value: Any) -> Decimal:
    return Decimal(len(string("string length", value, "string")))


def _upper(value: Any) -> str:
    return string("upper case", value, "string").upper()


def _lower(value: Any) -> str:
    return string("lower case", value, "string").lower()


def _before(value: Any, match: Any) -> str:
    text = string("substring before", value, "string")
    sub = string("substring before", match, "match")
    index = text.find(sub) if sub else 0
    return text[:index] if index > 0 else ""


def _after(value: Any, match: Any) -> str:
    text = string("substring after", value, "string")
    sub = string("substring after", match, "match")
    if not sub:
        return text
    index = text.find(sub)
    return "" if index < 0 else text[index + len(sub) :]


def _string_test(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def impl(value: Any, match: Any) -> bool:
        return test(string(name, value, "string"), string(name, match, "match"))

    return impl


def _pattern(name: str, pattern: Any, flags: Any) -> _regex.FeelPattern:
    source = string(name, pattern, "pattern")
    flag_text = "" if flags is None else string(name, flags, "flags")
    try:
        return _regex.compile_pattern(source, flag_text)
    except _regex.RegexError as exc:
        raise fail(name, str(exc)) from exc


def _regex_call(name: str, operation: Callable[[], _T]) -> _T:
    """Run a regex operation, reporting limits (size, time) as a function error."""
    try:
        return operation()
    except _regex.RegexError as exc:
        raise fail(name, str(exc)) from exc


def _matches(value: Any, pattern: Any, flags: Any = None) -> bool:
    text = string("matches", value, "input")
    compiled = _pattern("matches", pattern, flags)
    return _regex_call("matches", lambda: compiled.search(text))


def _replace(value: Any, pattern: Any, replacement: Any, flags: Any = None) -> str:
    text = string("replace", value, "input")
    compiled = _pattern("replace", pattern, flags)
    template = string("replace", replacement, "replacement")
    expand = _regex_call("replace", lambda: _regex.compile_replacement(template, compiled))
    return _regex_call("replace", lambda: compiled.sub(expand, text))


def _split(value: Any, delimiter: Any) -> list[str]:
    text = string("split", value, "string")
    compiled = _pattern("split", delimiter, None)
    parts: list[str] = []
    last = 0
    for m in _regex_call("split", lambda: compiled.finditer(text)):
        if m.end() == 0:
            continue  # a zero-width match at the start gives no leading empty part
        if m.start() == m.end() and m.start() >= len(text):
            break
        parts.append(text[last : m.start()])
        last = m.end()
    parts.append(text[last:])
    return parts


def _extract(value: Any, pattern: Any) -> list[str]:
    text = string("extract", value, "string")
    compiled = _pattern("extract", pattern, None)
    return [str(m.group(0)) for m in _regex_call("extract", lambda: compiled.finditer(text))]


def _trim(value: Any) -> str:
    return string("trim", value, "string").strip()


def _uuid() -> str:
    return str(uuid.uuid4())


def _to_base64(value: Any) -> str:
    return base64.b64encode(string("to base64", value, "value").encode("utf-8")).decode("ascii")


def _from_base64(value: Any) -> str:
    text = string("from base64", value, "value")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise fail("from base64", "the value is not valid Base64 of UTF-8 text") from exc


def _is_blank(value: Any) -> bool:
    # Java's String.isBlank(): only Character.isWhitespace counts, so \t \n \x0b \f \r,
    # \x1c-\x1f and Unicode spaces do, but the no-break spaces (U+00A0, U+2007, U+202F) don't
    return all(_java_whitespace(c) for c in string("is blank", value, "string"))


def _java_whitespace(c: str) -> bool:
    if c in _ASCII_WHITESPACE:
        return True
    return c not in _NO_BREAK and unicodedata.category(c) in ("Zs", "Zl", "Zp")


_ASCII_WHITESPACE = frozenset(" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")
_NO_BREAK = frozenset("\u00a0\u2007\u202f")


def _string_join(items: Any, delimiter: Any = None, prefix: Any = None, suffix: Any = None) -> str:
    name = "string join"
    values = list_arg(name, items, "list")
    parts = []
    for item in values:
        if item is None:
            continue
        if not isinstance(item, str):
            raise fail(name, f"all items must be strings, got {describe(item)}")
        parts.append(item)
    sep = "" if delimiter is None else string(name, delimiter, "delimiter")
    head = "" if prefix is None else string(name, prefix, "prefix")
    tail = "" if suffix is None else string(name, suffix, "suffix")
    return head + sep.join(parts) + tail


BUILTINS: Table = table(
    fn("substring", "string, start position", _substring),
    fn("substring", "string, start position, length", _substring),
    fn("string length", "string", _string_length),
    fn("upper case", "string", _upper),
    fn("lower case", "string", _lower),
    fn("substring before", "string, match", _before),
    fn("substring after", "string, match", _after),
    fn("contains", "string, match", _string_test("contains", lambda s, m: m in s)),
    fn("starts with", "string, match", _string_test("starts with", str.startswith)),
    fn("ends with", "string, match", _string_test("ends with", str.endswith)),
    fn("matches", "input, pattern", _matches),
    fn("matches", "input, pattern, flags", _matches),
    fn("replace", "input, pattern, replacement", _replace),
    fn("replace", "input, pattern, replacement, flags", _replace),
    fn("split", "string, delimiter", _split),
    fn("extract", "string, pattern", _extract),
    fn("trim", "string", _trim),
    fn("uuid", "", _uuid),
    fn("to base64", "value", _to_base64),
    fn("from base64", "value", _from_base64),
    fn("is blank", "string", _is_blank),
    fn("string join", "list", _string_join),
    fn("string join", "list, delimiter", _string_join),
    fn("string join", "list, delimiter, prefix, suffix", _string_join),
)
