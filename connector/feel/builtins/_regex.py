"""FEEL regular expressions (XML Schema / Java syntax) on top of Python engines.

FEEL patterns follow the Java flavour feel-scala runs on. The common syntax is
the same in Python; the translation below covers the differences that show up
in practice: named groups ``(?<n>...)``, ``\\k<n>``, ``\\z``/``\\Z``, ``\\h``,
``\\R``, ``\\Q...\\E``, ``\\p{...}`` classes, and Java's ``$1``/``${n}``
replacement syntax.

Engine: the ``regex`` package when it is installed, because it can stop a match
after a time limit (no catastrophic backtracking can hang a worker) and knows
Unicode properties; otherwise the standard ``re``, which has no time limit, so
patterns with a repeated group that itself contains an unbounded repetition
(``(a+)+``, the classic catastrophic shape) are refused. Patterns and inputs
are bounded in length with either engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from connector.feel.builtins._util import describe_text, redact_quotes

try:
    import regex as _regex_engine  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the installation
    _regex_engine = None

MAX_PATTERN = 1000
MAX_INPUT = 1_000_000
#: Longest time one regular expression operation may take with the ``regex`` engine.
TIMEOUT_SECONDS = 1.0

_FLAG_NAMES = {"i": "IGNORECASE", "s": "DOTALL", "m": "MULTILINE", "x": "VERBOSE"}

# Java's POSIX-style classes are ASCII only
_POSIX = {
    "Alpha": "A-Za-z",
    "Upper": "A-Z",
    "Lower": "a-z",
    "Digit": "0-9",
    "Alnum": "A-Za-z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Space": " \\t\\n\\x0b\\f\\r",
    "XDigit": "0-9a-fA-F",
    "ASCII": "\\x00-\\x7f",
}
# Java binary properties spelled differently by the regex engine
_REGEX_NAMES = {
    "IsLetter": "L",
    "IsDigit": "Nd",
    "IsUppercase": "Uppercase",
    "IsLowercase": "Lowercase",
    "IsWhite_Space": "White_Space",
    "IsPunctuation": "P",
    "IsAlphabetic": "Alphabetic",
}
# for the standard re engine: letter classes approximated by Latin, Greek, Cyrillic
_LETTER = (
    "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u03ff\u0400-\u04ff"
)
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de"
_LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff"
_PUNCT = "!-/:-@\\[-`{-~\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf"
_APPROXIMATE = {
    "L": _LETTER,
    "IsL": _LETTER,
    "IsLetter": _LETTER,
    "IsAlphabetic": _LETTER,
    "Lu": _UPPER,
    "IsUppercase": _UPPER,
    "Ll": _LOWER,
    "IsLowercase": _LOWER,
    "N": "0-9",
    "Nd": "0-9",
    "IsDigit": "0-9",
    "P": _PUNCT,
    "IsPunctuation": _PUNCT,
    "IsWhite_Space": " \\t\\n\\x0b\\f\\r\\x85\\xa0",
}
_ASCII_CLASSES = {"d": "0-9", "w": "a-zA-Z0-9_", "s": " \\t\\n\\x0b\\f\\r"}
_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"


class RegexError(ValueError):
    """The pattern, flags or replacement is not valid or not supported."""


def _property(pattern: str, i: int, in_class: bool, native: bool) -> tuple[str, int]:
    """Translate ``\\p{Name}``/``\\P{Name}`` starting at ``pattern[i] == '\\\\'``."""
    negated = pattern[i + 1] == "P"
    if i + 2 < len(pattern) and pattern[i + 2] == "{":
        end = pattern.find("}", i + 3)
        if end < 0:
            raise RegexError("unterminated \\p{...} class")
        name, nxt = pattern[i + 3 : end], end + 1
    elif i + 2 < len(pattern):
        name, nxt = pattern[i + 2], i + 3
    else:
        raise RegexError("incomplete \\p escape")
    contents = _POSIX.get(name.removeprefix("Is"))
    if contents is None and native:
        # the regex engine knows Unicode properties; pass them on in its spelling
        return f"\\{pattern[i + 1]}{{{_REGEX_NAMES.get(name, name)}}}", nxt
    if contents is None:
        contents = _APPROXIMATE.get(name)
    if contents is None:
        raise RegexError(f"unsupported character property \\p{{...}} ({describe_text(name)})")
    if in_class:
        if negated:
            raise RegexError("negated \\P{...} inside a character class is not supported")
        return contents, nxt
    return ("[^" if negated else "[") + contents + "]", nxt


def _escape(pattern: str, i: int, in_class: bool, native: bool) -> tuple[str, int]:
    """Translate the escape sequence at ``pattern[i] == '\\\\'``; returns (text, next index)."""
    if i + 1 >= len(pattern):
        raise RegexError("pattern ends with a backslash")
    c = pattern[i + 1]
    if c in "pP":
        return _property(pattern, i, in_class, native)
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return re.escape(literal), (len(pattern) if end < 0 else end + 2)
    if c == "h":
        return (_HSPACE if in_class else f"[{_HSPACE}]"), i + 2
    if c in _ASCII_CLASSES:
        # Java's \d, \w and \s are ASCII only, Python's match any Unicode digit/letter
        contents = _ASCII_CLASSES[c]
        return (contents if in_class else f"[{contents}]"), i + 2
    if c in "DWS" and not in_class:
        return f"[^{_ASCII_CLASSES[c.lower()]}]", i + 2
    if in_class:
        return pattern[i : i + 2], i + 2
    if c == "z":
        return r"\Z", i + 2
    if c == "Z":
        return r"(?=\n?\Z)", i + 2
    if c == "R":
        return r"(?:\r\n|[\n\x0b\f\r\x85\u2028\u2029])", i + 2
    if c == "k" and pattern.startswith("<", i + 2):
        end = pattern.find(">", i + 3)
        if end < 0:
            raise RegexError("unterminated \\k<name> back reference")
        return f"(?P={pattern[i + 3 : end]})", end + 1
    return pattern[i : i + 2], i + 2


_UNBOUNDED = re.compile(r"[*+]|\{\d+,\}")


def _unbounded_at(pattern: str, i: int) -> tuple[int, bool]:
    """Length of an unbounded quantifier at ``i`` (0 if none), and whether it backtracks."""
    m = _UNBOUNDED.match(pattern, i)
    if m is None:
        return 0, False
    if pattern.startswith("+", m.end()):
        return m.end() + 1 - i, False  # possessive: never backtracks
    return m.end() - i, True


class _Translator:
    """Single pass over a Java pattern producing Python syntax and a risk check."""

    def __init__(self, pattern: str, native: bool) -> None:
        self.src = pattern
        # with a time limit (regex engine) nested repetition is safe to run
        self.native = native
        self.out: list[str] = []
        # per open group: (contains an unbounded repetition, is atomic)
        self.groups: list[list[bool]] = [[False, False]]

    def run(self) -> str:
        src, i = self.src, 0
        while i < len(src):
            c = src[i]
            if c == "\\":
                text, i = _escape(src, i, False, self.native)
                self.out.append(text)
            elif c == "[":
                i = self._char_class(i)
            elif c == "(":
                i = self._open_group(i)
            elif c == ")":
                i = self._close_group(i)
            else:
                width, backtracks = _unbounded_at(src, i)
                if width:
                    self.groups[-1][0] = self.groups[-1][0] or backtracks
                    self.out.append(src[i : i + width])
                    i += width
                else:
                    self.out.append(c)
                    i += 1
        return "".join(self.out)

    def _open_group(self, i: int) -> int:
        src = self.src
        atomic = src.startswith("(?>", i)
        if src.startswith("(?<", i) and i + 3 < len(src) and src[i + 3] not in "=!":
            self.out.append("(?P<")
            i += 3
        else:
            self.out.append("(")
            i += 1
        self.groups.append([False, atomic])
        return i

    def _close_group(self, i: int) -> int:
        self.out.append(")")
        if len(self.groups) == 1:
            raise RegexError("unbalanced parenthesis")
        inner_unbounded, atomic = self.groups.pop()
        _width, backtracks = _unbounded_at(self.src, i + 1)
        if inner_unbounded and backtracks and not atomic and not self.native:
            raise RegexError(
                "nested repetition such as (a+)+ is refused: it can take exponential time"
            )
        if inner_unbounded:
            self.groups[-1][0] = True
        return i + 1

    def _char_class(self, i: int) -> int:
        src = self.src
        self.out.append("[")
        i += 1
        if src.startswith("^", i):
            self.out.append("^")
            i += 1
        if src.startswith("]", i):
            self.out.append(r"\]")
            i += 1
        while i < len(src) and src[i] != "]":
            c = src[i]
            if c == "\\":
                text, i = _escape(src, i, True, self.native)
                self.out.append(text)
                continue
            # characters Python may read as (future) set operations are literals here
            self.out.append("\\" + c if c in "[&~|" else c)
            i += 1
        if i >= len(src):
            raise RegexError("unterminated character class")
        self.out.append("]")
        return i + 1


class FeelPattern:
    """A compiled FEEL pattern; every operation is bounded in input size and time."""

    __slots__ = ("_compiled", "_timed")

    def __init__(self, compiled: Any, timed: bool) -> None:
        self._compiled = compiled
        self._timed = timed  # the regex engine takes a time limit, re does not

    @property
    def groups(self) -> int:
        return int(self._compiled.groups)

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self._compiled.groupindex)

    def _run(self, operation: str, *args: Any) -> Any:
        method = getattr(self._compiled, operation)
        if not self._timed:
            return method(*args)
        limit = TIMEOUT_SECONDS
        try:
            # concurrent: the engine lets go of the GIL while it matches, so a slow match
            # in a worker thread does not stall the event loop's thread
            result = method(*args, timeout=limit, concurrent=True)
            # finditer is lazy: the time limit applies while its matches are produced
            return list(result) if operation == "finditer" else result
        except TimeoutError as exc:
            raise RegexError(f"the pattern took longer than {limit:g} s on this input") from exc

    def search(self, text: str) -> bool:
        check_input(text)
        return self._run("search", text) is not None

    def sub(self, replace: Callable[[Any], str], text: str) -> str:
        check_input(text)
        return str(self._run("sub", replace, text))

    def finditer(self, text: str) -> list[Any]:
        check_input(text)
        return list(self._run("finditer", text))


def _engine(native: bool) -> Any:
    return _regex_engine if native and _regex_engine is not None else re


def compile_pattern(pattern: str, flags: str = "", native: bool | None = None) -> FeelPattern:
    """Compile a FEEL pattern with FEEL flags (``s``, ``m``, ``i``, ``x``, ``q``).

    ``native`` selects the ``regex`` engine (default: when installed); tests use
    it to cover both engines.
    """
    use_regex = (
        _regex_engine is not None if native is None else native and _regex_engine is not None
    )
    return _compile(pattern, flags, use_regex)


@lru_cache(maxsize=512)
def _compile(pattern: str, flags: str, use_regex: bool) -> FeelPattern:
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"pattern is longer than {MAX_PATTERN} characters")
    engine = _engine(use_regex)
    engine_flags = 0
    literal = False
    for flag in flags:
        if flag == "q":
            literal = True
        elif flag in _FLAG_NAMES:
            engine_flags |= getattr(engine, _FLAG_NAMES[flag])
        else:
            raise RegexError(f"unknown flag '{flag}' (allowed: s, m, i, x, q)")
    source = re.escape(pattern) if literal else _Translator(pattern, use_regex).run()
    try:
        compiled = engine.compile(source, engine_flags)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise RegexError(f"invalid pattern: {redact_quotes(str(exc))}") from exc
    except Exception as exc:  # the regex engine's own error type
        raise RegexError(f"invalid pattern: {redact_quotes(str(exc))}") from exc
    return FeelPattern(compiled, use_regex)


def check_input(text: str) -> None:
    if len(text) > MAX_INPUT:
        raise RegexError(f"input is longer than {MAX_INPUT} characters")


def _group_reference(replacement: str, i: int, groups: int) -> tuple[int | str, int]:
    """Parse ``$n`` / ``${name}`` at ``replacement[i] == '$'`` as Java does."""
    if replacement.startswith("{", i + 1):
        end = replacement.find("}", i + 2)
        if end < 0:
            raise RegexError("unterminated ${name} group reference")
        return replacement[i + 2 : end], end + 1
    j = i + 1
    if j >= len(replacement) or not replacement[j].isdigit():
        raise RegexError("'$' in a replacement must be followed by a group number")
    number = int(replacement[j])
    j += 1
    # Java keeps reading digits while the number still names an existing group
    while j < len(replacement) and replacement[j].isdigit():
        candidate = number * 10 + int(replacement[j])
        if candidate > groups:
            break
        number, j = candidate, j + 1
    return number, j


def compile_replacement(replacement: str, pattern: FeelPattern) -> Callable[[Any], str]:
    """A ``re.sub`` callback implementing Java's replacement syntax."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\":
            if i + 1 >= len(replacement):
                raise RegexError("replacement ends with a backslash")
            literal.append(replacement[i + 1])
            i += 2
        elif c == "$":
            ref, i = _group_reference(replacement, i, pattern.groups)
            if isinstance(ref, int) and ref > pattern.groups:
                raise RegexError(f"no group {ref} in the pattern")
            if isinstance(ref, str) and ref not in pattern.groupindex:
                raise RegexError(f"no group of that name ({describe_text(ref)}) in the pattern")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(ref if isinstance(ref, int) else pattern.groupindex[ref])
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append("".join(literal))

    def expand(match: Any) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in parts)

    return expand
