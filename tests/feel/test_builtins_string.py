"""String built-ins, including the regular expression functions."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.feel.builtins import _regex
from connector.feel.values import FeelFunctionError
from tests.helpers.feel import call

HAS_REGEX = _regex._regex_engine is not None


@pytest.fixture(params=["regex", "re"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the regex engine (time-limited) and with the standard re fallback."""
    if request.param == "regex" and not HAS_REGEX:
        pytest.skip("the regex package is not installed")
    if request.param == "re":
        monkeypatch.setattr(_regex, "_regex_engine", None)
    yield request.param


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("foobar", 3), "obar"),
        (("foobar", 3, 3), "oba"),
        (("foobar", -2), "ar"),
        (("foobar", -3, 2), "ba"),
        (("foobar", 3, 10), "obar"),
        (("f", 1), "f"),
        (("foobar", 6), "r"),
        (("foobar", 1, 6), "foobar"),
        (("foob r", -2, 1), " "),
        (("foobar", -6, 6), "foobar"),
        (("foobar", 3, 3.8), "oba"),
        (("\U0001f40e\U0001f600x", 2, 1), "\U0001f600"),
    ],
)
def test_substring(args: tuple[Any, ...], expected: str) -> None:
    assert call("substring", *args) == expected


@pytest.mark.parametrize(
    "args", [("foobar", -7), ("foobar", 8), ("foobar", 1, -1), (None, 1), ("foo", "1"), (1, 1)]
)
def test_substring_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^substring: "):
        call("substring", *args)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("string length", ("",), 0),
        ("string length", ("aaaaa dddd ",), 11),
        ("string length", ("\U0001f40e",), 1),
        ("upper case", ("aBc4",), "ABC4"),
        ("upper case", ("?@{",), "?@{"),
        ("lower case", ("aBc4",), "abc4"),
        ("substring before", ("foobar", "bar"), "foo"),
        ("substring before", ("foobar", "o"), "f"),
        ("substring before", ("foobar", "x"), ""),
        ("substring before", ("abc", ""), ""),
        ("substring before", ("abc", "a"), ""),
        ("substring after", ("foobar", "ob"), "ar"),
        ("substring after", ("foobar", "o"), "obar"),
        ("substring after", ("foobar", "x"), ""),
        ("substring after", ("abc", ""), "abc"),
        ("substring after", ("abc", "c"), ""),
        ("contains", ("foobar", "of"), False),
        ("contains", ("foobar", "bar"), True),
        ("contains", ("abc", ""), True),
        ("contains", ("", "ab"), False),
        ("starts with", ("foobar", "fo"), True),
        ("starts with", ("foobar", "bar"), False),
        ("ends with", ("foobar", "r"), True),
        ("ends with", ("foobar", "o"), False),
        ("trim", ("  hello world  ",), "hello world"),
        ("trim", ("hello   world ",), "hello   world"),
        ("trim", ("\t x \n",), "x"),
        ("is blank", ("",), True),
        ("is blank", (" \t",), True),
        ("is blank", ("hello world",), False),
        ("to base64", ("FEEL",), "RkVFTA=="),
        ("to base64", ("é",), "w6k="),
        ("from base64", ("RkVFTA==",), "FEEL"),
    ],
)
def test_simple_string_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args) == expected


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("string length", (None,)),
        ("string length", (1,)),
        ("upper case", ([],)),
        ("contains", (None, "bar")),
        ("contains", ("bar", None)),
        ("starts with", ("a", 1)),
        ("trim", (None,)),
        ("is blank", (True,)),
        ("from base64", ("not base64!",)),
        ("to base64", (1,)),
    ],
)
def test_string_functions_reject_wrong_types(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=f"^{name}: "):
        call(name, *args)


def test_uuid_is_random_and_well_formed() -> None:
    first, second = call("uuid"), call("uuid")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert first != second


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("foobar", "^fo*bar"), True),
        (("banana", "[a-z]{3}"), True),
        (("FooBar", "foo"), False),
        (("FooBar", "foo", "i"), True),
        (("a\nb", "a.b"), False),
        (("a\nb", "a.b", "s"), True),
        (("x\nabc", "^abc$"), False),
        (("x\nabc", "^abc$", "m"), True),
        (("abc", "a b c", "x"), True),
        (("a.c", "a.c", "q"), True),
        (("abc", "a.c", "q"), False),
        (("2024-2024", r"(?<y>\d{4})-\k<y>"), True),
        (("Ünïcode", r"^\p{L}+$"), True),
        (("abc1", r"^\p{L}+$"), False),
        (("ab", r"b\z"), True),
        (("ab\n", r"b\Z"), True),
        (("é", r"^\w$"), False),
        (("٣", r"^\d$"), False),
        (("Straße", r"^\p{L}+$"), True),
        (("a1", r"^[\w]\d$"), True),
        (("a.b", r"^a\Q.\Eb$"), True),
        (("axb", r"^a\Q.\Eb$"), False),
        (("a\tb", r"^a\hb$"), True),
        (("a\r\nb", r"^a\Rb$"), True),
        (("x y", r"^\S\s\S$"), True),
        (("AB", r"^\p{Upper}+$"), True),
    ],
)
def test_matches(engine: str, args: tuple[Any, ...], expected: bool) -> None:
    assert call("matches", *args) is expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a", "("), "invalid pattern"),
        (("a", "a", "g"), "unknown flag"),
        (("a", "[a"), "unterminated"),
        (("a", "a" * 1001), "longer than"),
        (("a", r"\p{Nope}"), "p{Nope}|property"),
        ((None, "a"), "must be a string"),
        (("a", None), "must be a string"),
    ],
)
def test_matches_invalid(engine: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(FeelFunctionError, match=f"^matches: .*{message}"):
        call("matches", *args)


@pytest.mark.skipif(not HAS_REGEX, reason="the regex package is not installed")
def test_regex_engine_stops_catastrophic_backtracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_regex, "TIMEOUT_SECONDS", 0.05)
    started = time.monotonic()
    with pytest.raises(FeelFunctionError, match=r"took longer than 0\.05 s"):
        call("matches", "a" * 60 + "!", "^(a|aa|aaa)+$")
    assert time.monotonic() - started < 2.0


@pytest.mark.skipif(not HAS_REGEX, reason="the regex package is not installed")
@pytest.mark.parametrize("name", ["replace", "split", "extract"])
def test_time_limit_applies_to_every_regex_function(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(_regex, "TIMEOUT_SECONDS", 0.05)
    args = ["a" * 60 + "!", "^(a|aa|aaa)+$!"] + (["x"] if name == "replace" else [])
    with pytest.raises(FeelFunctionError, match=f"^{name}: the pattern took longer"):
        call(name, *args)


@pytest.mark.skipif(not HAS_REGEX, reason="the regex package is not installed")
def test_regex_engine_knows_unicode_properties() -> None:
    assert call("matches", "漢字", r"^\p{L}+$") is True
    assert call("matches", "Ä", r"^\p{Lu}$") is True
    assert call("matches", "ä", r"^\p{IsUppercase}$") is False
    assert call("matches", "ä", r"^\p{Alpha}$") is False  # Java's POSIX classes are ASCII


def test_common_nested_patterns_run_with_the_regex_engine(engine: str) -> None:
    email = r"^[\w.+-]+@([\w-]+\.)+\w{2,}$"
    if engine == "re":
        with pytest.raises(FeelFunctionError, match="nested repetition"):
            call("matches", "a@b.com", email)
    else:
        assert call("matches", "jane.doe@mail.example.com", email) is True
        assert call("matches", "not an email", email) is False


@pytest.mark.parametrize("pattern", ["(a+)+b", "(x|\\w*)*", "(\\w+\\s?)+$"])
def test_fallback_engine_refuses_nested_repetition(
    monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    monkeypatch.setattr(_regex, "_regex_engine", None)
    started = time.monotonic()
    with pytest.raises(FeelFunctionError, match="nested repetition"):
        call("matches", "a" * 40 + "!", pattern)
    assert time.monotonic() - started < 1.0


def test_atomic_and_possessive_nesting_is_allowed(engine: str) -> None:
    assert call("matches", "aaa", "^(?>a+)+$") is True
    assert call("matches", "aaa", "^(a++)+$") is True


def test_long_input_is_refused(engine: str) -> None:
    with pytest.raises(FeelFunctionError, match="input is longer"):
        call("matches", "a" * (_regex.MAX_INPUT + 1), "b")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("abcd", "(ab)|(a)", "[1=$1][2=$2]"), "[1=ab][2=]cd"),
        (("0123456789", r"(\d{3})(\d{3})(\d{4})", "($1) $2-$3"), "(012) 345-6789"),
        (("a", "[a-z]", "#"), "#"),
        (("abc", "e", "#"), "abc"),
        (("foobar", "^fo*b*", "#"), "#ar"),
        (("abracadabra", "a.*a", "*"), "*"),
        (("abracadabra", "a.*?a", "*"), "*c*bra"),
        (("abracadabra", "a", ""), "brcdbr"),
        (("abracadabra", "a(.)", "a$1$1"), "abbraccaddabbra"),
        (("AAAA", "A+", "b"), "b"),
        (("AAAA", "A+?", "b"), "bbbb"),
        (("facetiously", "[iouy]", "[$0]"), "facet[i][o][u]sl[y]"),
        (("abc", "[a-z]", "#", ""), "###"),
        (("abc", "[A-Z]", "#", "i"), "###"),
        (("a b c d ", "[a-z]", "#", "x"), "# # # # "),
        (("abc", ".^[d-z]*", "smix"), "abc"),
        (("How do you feel?", "Feel", "FEEL", "i"), "How do you FEEL?"),
        (("cost 5", r"(\d)", r"\$$1"), "cost $5"),
        (("abcdefghijk", "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "$11-$1"), "k-a"),
        (("ab", "(a)", "$10"), "a0b"),
        (("2024-01", r"(?<y>\d+)-(?<m>\d+)", "${m}/${y}"), "01/2024"),
    ],
)
def test_replace(engine: str, args: tuple[Any, ...], expected: str) -> None:
    assert call("replace", *args) == expected


@pytest.mark.parametrize(
    "args",
    [("abc", "a", "$2"), ("abc", "a", "$x"), ("abc", "a", "x\\"), ("abc", "(", "x"), (1, "a", "b")],
)
def test_replace_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^replace: "):
        call("replace", *args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("John Doe", r"\s"), ["John", "Doe"]),
        (("a;b;c;;", ";"), ["a", "b", "c", "", ""]),
        (("foo,bar", ","), ["foo", "bar"]),
        ((";a", ";"), ["", "a"]),
        (("a1b22c", r"(\d)+"), ["a", "b", "c"]),
        (("abc", "x"), ["abc"]),
    ],
)
def test_split(engine: str, args: tuple[Any, ...], expected: list[str]) -> None:
    assert call("split", *args) == expected


def test_split_named_and_invalid() -> None:
    assert call("split", delimiter=",", string="foo,bar") == ["foo", "bar"]
    for args in [(None, ","), ("foo", None)]:
        with pytest.raises(FeelFunctionError):
            call("split", *args)


def test_extract(engine: str) -> None:
    assert call("extract", "references are 1234, 1256, 1378", "12[0-9]*") == ["1234", "1256"]
    assert call("extract", "abc", r"\d") == []
    assert call("extract", "a1b2", r"(\d)") == ["1", "2"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((["a", "b", "c"],), "abc"),
        ((["a"], "X"), "a"),
        ((["a", "b", "c"], ", "), "a, b, c"),
        ((["a", "b", "c"], ", ", "[", "]"), "[a, b, c]"),
        ((["a", None, "c"],), "ac"),
        ((["a", None, "c"], "X"), "aXc"),
        ((["a", "b", "c"], None), "abc"),
        (([],), ""),
        (([], ",", "<", ">"), "<>"),
    ],
)
def test_string_join(args: tuple[Any, ...], expected: str) -> None:
    assert call("string join", *args) == expected


@pytest.mark.parametrize("args", [(None,), (None, "X"), (123, "X"), ([1, "a"],), (["a"], 1)])
def test_string_join_invalid(args: tuple[Any, ...]) -> None:
    with pytest.raises(FeelFunctionError, match=r"^string join: "):
        call("string join", *args)
