"""Tokenizer and parser: syntax accepted, AST shapes, syntax errors and limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector import feel
from connector.feel import FeelSyntaxError, evaluate
from connector.feel import ast as A
from connector.feel.lexer import NAME, NUM, OP, STR, TEMPORAL, tokenize
from connector.feel.parser import MAX_LENGTH, MAX_TREE_DEPTH, parse


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(text)[:-1]]


class TestTokenizer:
    def test_range_dots_are_not_a_decimal_point(self) -> None:
        assert kinds("1..10") == [(NUM, "1"), (OP, ".."), (NUM, "10")]

    def test_decimal_numbers(self) -> None:
        assert kinds("1.5 .25") == [(NUM, "1.5"), (NUM, ".25")]

    def test_string_escapes_are_decoded(self) -> None:
        assert kinds(r'"a\"b\n\u0041\\"') == [(STR, 'a"b\nA\\')]

    def test_surrogate_pair_escape_is_joined(self) -> None:
        assert kinds(r'"\ud83d\udc0e"') == [(STR, "\U0001f40e")]

    def test_unknown_escape_is_kept_for_regex_patterns(self) -> None:
        assert kinds(r'"\d+"') == [(STR, r"\d+")]

    def test_temporal_literal(self) -> None:
        assert kinds('@"P1D"') == [(TEMPORAL, "P1D")]

    def test_backtick_name_is_quoted(self) -> None:
        (token,) = tokenize("`a-b c`")[:-1]
        assert (token.kind, token.text, token.quoted) == (NAME, "a-b c", True)

    def test_comments_are_skipped(self) -> None:
        assert kinds("1 // line\n + /* block */ 2") == [(NUM, "1"), (OP, "+"), (NUM, "2")]

    def test_two_character_operators(self) -> None:
        ops = [t for _, t in kinds("a ** b != c <= d >= e")]
        assert ops == ["a", "**", "b", "!=", "c", "<=", "d", ">=", "e"]

    def test_non_ascii_names(self) -> None:
        assert kinds("größe 🐎") == [(NAME, "größe"), (NAME, "🐎")]


class TestParser:
    def test_precedence_of_arithmetic(self) -> None:
        node = parse("1 + 2 * 3 ** 2")
        assert isinstance(node, A.Arith) and node.op == "+"
        assert isinstance(node.right, A.Arith) and node.right.op == "*"
        assert isinstance(node.right.right, A.Arith) and node.right.right.op == "**"

    def test_subtraction_is_left_associative(self) -> None:
        node = parse("10 - 4 - 3")
        assert isinstance(node, A.Arith) and isinstance(node.left, A.Arith)

    def test_and_binds_tighter_than_or(self) -> None:
        node = parse("a or b and c")
        assert isinstance(node, A.Or) and isinstance(node.right, A.And)

    def test_comparison_binds_tighter_than_and(self) -> None:
        node = parse("a = 1 and b < 2")
        assert isinstance(node, A.And)
        assert isinstance(node.left, A.Compare) and isinstance(node.right, A.Compare)

    def test_negative_literal_is_folded(self) -> None:
        node = parse("-5")
        assert isinstance(node, A.Const) and node.value == Decimal(-5)

    def test_multi_word_function_name(self) -> None:
        node = parse('string length("abc")')
        assert isinstance(node, A.Call) and isinstance(node.callee, A.Name)
        assert node.callee.name == "string length"

    @pytest.mark.parametrize("name", ["date and time", "years and months duration", "get or else"])
    def test_names_containing_keywords(self, name: str) -> None:
        node = parse(f"{name}(x, y)")
        assert isinstance(node, A.Call) and isinstance(node.callee, A.Name)
        assert node.callee.name == name

    def test_and_is_an_operator_when_no_name_matches(self) -> None:
        assert isinstance(parse("date and time"), A.And)

    def test_named_arguments(self) -> None:
        node = parse('substring(string: "abc", start position: 2)')
        assert isinstance(node, A.Call) and node.named is not None
        assert [n for n, _ in node.named] == ["string", "start position"]

    def test_mixed_positional_and_named_arguments_are_rejected(self) -> None:
        with pytest.raises(FeelSyntaxError):
            parse("f(1, b: 2)")

    def test_path_with_multi_word_member(self) -> None:
        node = parse("x.time offset")
        assert isinstance(node, A.Path) and node.name == "time offset"

    def test_filter_and_projection(self) -> None:
        node = parse("(body.labels)[name = 'x'].name".replace("'", '"'))
        assert isinstance(node, A.Path) and isinstance(node.target, A.Filter)

    def test_context_keys_of_every_kind(self) -> None:
        node = parse('{a: 1, "b c": 2, first name: 3, Content-Type: 4, `x`: 5}')
        assert isinstance(node, A.ContextLit)
        assert [k for k, _ in node.entries] == ["a", "b c", "first name", "Content-Type", "x"]

    def test_duplicate_context_key_is_an_error(self) -> None:
        with pytest.raises(FeelSyntaxError) as info:
            parse("{a: 1, a: 2}")
        assert "unique key" in str(info.value)

    @pytest.mark.parametrize(
        ("text", "start_included", "end_included"),
        [("[1..10]", True, True), ("(1..10)", False, False), ("]1..10[", False, False)],
    )
    def test_ranges(self, text: str, start_included: bool, end_included: bool) -> None:
        node = parse(text)
        assert isinstance(node, A.RangeLit)
        assert (node.start_included, node.end_included) == (start_included, end_included)

    def test_unary_tests_after_in(self) -> None:
        node = parse("x in (< 3, [5..6], 9)")
        assert isinstance(node, A.In) and len(node.tests) == 3
        assert isinstance(node.tests[0], A.UnaryCompare)

    def test_instance_of_type_names(self) -> None:
        node = parse("x instance of list<date and time>")
        assert isinstance(node, A.TypeTest) and node.type_name == "list<date and time>"

    def test_for_with_range_and_several_contexts(self) -> None:
        node = parse("for i in 1..3, j in [1, 2] return i * j")
        assert isinstance(node, A.For) and len(node.contexts) == 2
        assert node.contexts[0].range_end is not None

    def test_function_definition_with_typed_parameter(self) -> None:
        node = parse("function(a: number, b) a + b")
        assert isinstance(node, A.FunctionDef) and node.params == ("a", "b")


class TestSyntaxErrors:
    def test_error_names_position_and_expectation(self) -> None:
        with pytest.raises(FeelSyntaxError) as info:
            parse("{\n  a: 1,\n  b: * 2\n}")
        error = info.value
        assert (error.line, error.column) == (3, 6)
        assert error.expected == "an expression"
        assert error.expression.startswith("{")
        assert "line 3, column 6" in str(error)

    @pytest.mark.parametrize(
        "text", ["1 +", "if x then 1", "(1", "[1, 2", "{a 1}", '"open', "a.", "f(,)", "x in"]
    )
    def test_incomplete_expressions(self, text: str) -> None:
        with pytest.raises(FeelSyntaxError):
            parse(text)

    def test_empty_expression(self) -> None:
        with pytest.raises(FeelSyntaxError):
            parse("   ")

    def test_invalid_temporal_literal_is_null_not_a_syntax_error(self) -> None:
        # feel-scala parses @"..." whatever it holds and evaluates an invalid one to null
        assert feel.evaluate_with_warnings('@"not a date"') == (
            None,
            ["Failed to parse temporal value from 'not a date'"],
        )

    def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(self) -> None:
        with pytest.raises(FeelSyntaxError):
            parse("(" * 5000 + "1" + ")" * 5000)
        with pytest.raises(FeelSyntaxError):
            parse("-" * 5000 + "1")

    def test_long_path_exceeds_tree_depth(self) -> None:
        # a flat operator chain is not deep (see test_limits.py), a path chain is
        with pytest.raises(FeelSyntaxError) as info:
            parse("x" + ".a" * (MAX_TREE_DEPTH + 5))
        assert str(MAX_TREE_DEPTH) in info.value.expected

    def test_too_long_expression(self) -> None:
        with pytest.raises(FeelSyntaxError):
            parse("1" * (MAX_LENGTH + 1))

    def test_moderate_nesting_is_fine(self) -> None:
        assert isinstance(parse("(" * 30 + "1" + ")" * 30), A.Const)


def test_deepest_accepted_tree_compiles_and_evaluates() -> None:
    text = "x" + ".a" * (MAX_TREE_DEPTH - 1)
    data: dict[str, object] = {"a": "leaf"}
    for _ in range(MAX_TREE_DEPTH - 2):
        data = {"a": data}
    assert evaluate(text, {"x": data}) == "leaf"
