"""Tokenizer for FEEL expressions.

Names are single words here; the parser joins adjacent words into names with
spaces (``string length``, ``first name``) because only it knows the context.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from .errors import FeelSyntaxError

NUM: Final = "num"
STR: Final = "str"
NAME: Final = "name"
TEMPORAL: Final = "temporal"
OP: Final = "op"
EOF: Final = "eof"
#: A character that starts no token; only valid inside a context key (``{a#b: 1}``).
BAD: Final = "bad"

#: Words that end a multi-word name and have a grammatical role.
KEYWORDS: Final = frozenset(
    {
        "and",
        "or",
        "if",
        "then",
        "else",
        "for",
        "in",
        "return",
        "some",
        "every",
        "satisfies",
        "instance",
        "between",
        "function",
        "true",
        "false",
        "null",
    }
)


class Token(NamedTuple):
    kind: str
    text: str  # source text for ops/names/numbers; decoded value for strings
    start: int
    end: int
    quoted: bool = False  # backtick name: never a keyword

    def is_op(self, op: str) -> bool:
        return self.kind == OP and self.text == op

    def is_kw(self, word: str) -> bool:
        return self.kind == NAME and not self.quoted and self.text == word

    def describe(self) -> str:
        if self.kind == EOF:
            return "end of expression"
        if self.kind == BAD:
            return f"unexpected character {self.text!r}"
        if self.kind == STR:
            return "a string"
        return f"'{self.text}'"


# feel-scala's escapes (\b and \f included), plus \/ as in JSON
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
}
#: FEEL's whitespace (DMN 1.5, grammar rules 61-62, as feel-scala reads it): Python's ``\s``
#: plus the three format characters it lacks (Mongolian vowel separator, zero width space,
#: byte order mark), so text pasted with an invisible separator still parses.
WHITESPACE: Final = r"\s\u180e\u200b\ufeff"
_EXTRA_WHITESPACE = "\u180e\u200b\ufeff"
_TOKEN = re.compile(
    rf"""
    (?P<space>(?:[{WHITESPACE}]+|//[^\n]*)+)
    |(?P<comment>/\*)
    |(?P<num>\d+(?:\.\d+)?|\.\d+)
    |(?P<str>"[^"\\]*(?:\\.[^"\\]*)*")
    |(?P<temporal>@"[^"\\]*(?:\\.[^"\\]*)*")
    |(?P<quoted>`[^`]*`)
    |(?P<name>(?:[^\W\d]|[?$]|[^\x00-\x7f{WHITESPACE}])(?:[\w?$']|[^\x00-\x7f{WHITESPACE}])*)
    |(?P<op>\.\.|\*\*|!=|<=|>=|->|[.,()\[\]{{}}:+\-*/=<>])
    """,
    re.S | re.X,
)


def rstrip_whitespace(text: str) -> str:
    """``text`` without trailing FEEL whitespace (``str.rstrip`` misses the format characters)."""
    while True:
        stripped = text.rstrip().rstrip(_EXTRA_WHITESPACE)
        if stripped == text:
            return text
        text = stripped


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    match = _TOKEN.match
    i, n = 0, len(text)
    while i < n:
        m = match(text, i)
        if m is None:
            if text[i] in _UNCLOSED:
                raise _bad_token(text, i)
            # the parser decides: an error, unless it is part of a context key
            append(Token(BAD, text[i], i, i + 1))
            i += 1
            continue
        end = m.end()
        kind = m.lastgroup
        if kind == "space":
            pass
        elif kind == "name":
            append(Token(NAME, m.group(), i, end))
        elif kind == "op":
            append(Token(OP, m.group(), i, end))
        elif kind == "num":
            append(Token(NUM, m.group(), i, end))
        elif kind == "str":
            append(Token(STR, _decode(text, i, end), i, end))
        elif kind == "temporal":
            append(Token(TEMPORAL, _decode(text, i + 1, end), i, end))
        elif kind == "comment":
            # found with str.find, not the regex: an unclosed `/*` costs one scan, not one per `/*`
            close = text.find("*/", end)
            if close < 0:
                raise _bad_token(text, i)
            end = close + 2
        else:
            append(Token(NAME, text[i + 1 : end - 1], i, end, True))
        i = end
    tokens.append(Token(EOF, "", n, n))
    return tokens


#: Characters that open a token which was not closed.
_UNCLOSED = frozenset('"`')


def _bad_token(text: str, i: int) -> FeelSyntaxError:
    ch = text[i]
    if ch == '"' or text.startswith('@"', i):
        return FeelSyntaxError(text, i, "closing '\"' of the string literal")
    if ch == "`":
        return FeelSyntaxError(text, i, "closing '`' of a quoted name")
    if text.startswith("/*", i):
        return FeelSyntaxError(text, i, "end of comment '*/'")
    return FeelSyntaxError(text, i, "an expression", f"unexpected character {ch!r}")


def _decode(text: str, start: int, end: int) -> str:
    """The value of the string literal ``text[start:end]`` (quotes included)."""
    body = text[start + 1 : end - 1]
    if "\\" not in body:
        return body
    value, _ = _read_string(text, start)
    return value


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Decode the string literal opening at ``start``; return (value, end offset)."""
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return _join_surrogates("".join(out)), i + 1
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "U" and re.fullmatch(r"[0-9a-fA-F]{6}", text[i + 2 : i + 8]):
                code = int(text[i + 2 : i + 8], 16)
                if code > 0x10FFFF:
                    raise FeelSyntaxError(text, i, "a valid unicode escape")
                out.append(chr(code))
                i += 8
                continue
            # unknown escapes are kept verbatim (regex patterns such as "\d")
            out.append(ch)
            i += 1
            continue
        out.append(ch)
        i += 1
    raise FeelSyntaxError(text, start, "closing '\"' of the string literal")


def _join_surrogates(value: str) -> str:
    if not any("\ud800" <= c <= "\udfff" for c in value):
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
