"""Recursive-descent parser: FEEL expression text -> AST (:mod:`connector.feel.ast`).

Precedence, lowest first (as in feel-scala): if/for/some/every/function;
``or``; ``and``; comparisons, ``between``, ``in``, ``instance of``; ``+ -``;
``* /``; ``**``; unary ``-``; postfix path/filter/invocation; primaries.

Binary operators are read with explicit operand/operator stacks and ``else if``
chains with a loop, so long flat chains need no recursion; brackets and other
sub-expressions recurse, bounded by :data:`MAX_NESTING`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from . import ast as A
from .errors import FeelSyntaxError
from .lexer import (
    EOF,
    KEYWORDS,
    NAME,
    NUM,
    OP,
    STR,
    TEMPORAL,
    WHITESPACE,
    Token,
    rstrip_whitespace,
    tokenize,
)

#: feel-scala's reserved words: never a name (nor a path segment) unless in backticks.
RESERVED_WORDS = frozenset(
    {"null", "true", "false", "function", "in", "return", "then", "else", "satisfies"}
    | {"and", "or"}
)

#: Longest accepted expression text, in characters.
MAX_LENGTH = 100_000
#: Deepest nesting the parser accepts: brackets, sub-expressions (``if``/``for``
#: bodies, arguments, list items...), unary ``-``. Each level costs the parser
#: a few stack frames, so this bounds its recursion.
MAX_NESTING = 128
#: Deepest syntax tree accepted, as the compiler and evaluator recurse over it:
#: links of a flat chain (``a + b + c``, ``x or y or z``, ``else if``) do not
#: count, as those are compiled into loops.
MAX_TREE_DEPTH = 300

#: Multi-word names that contain a keyword (``and``/``or``); other multi-word
#: names are joined from adjacent words without needing a list.
KEYWORD_NAMES = frozenset(
    {"date and time", "years and months duration", "days and time duration", "get or else"}
)
#: Characters that end a context key written without quotes (feel-scala's reserved symbols).
_KEY_STOP = frozenset('"{}:,[]`')
_COMPARISON_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_PREC_OR, _PREC_AND, _PREC_CMP, _PREC_ADD, _PREC_MUL, _PREC_POW = 1, 2, 3, 4, 5, 6
_OP_PRECEDENCE = {
    **dict.fromkeys(_COMPARISON_OPS, _PREC_CMP),
    "+": _PREC_ADD,
    "-": _PREC_ADD,
    "*": _PREC_MUL,
    "/": _PREC_MUL,
    "**": _PREC_POW,
}
_WS = re.compile(f"[{WHITESPACE}]+")


def parse(text: str) -> A.Node:
    if len(text) > MAX_LENGTH:
        raise FeelSyntaxError(
            text[:200], 0, f"an expression of at most {MAX_LENGTH} characters", "a longer one"
        )
    parser = _Parser(text)
    node = parser.parse_all()
    if _tree_depth(node) > MAX_TREE_DEPTH:
        raise FeelSyntaxError(
            text, 0, f"an expression nested at most {MAX_TREE_DEPTH} levels deep", "a deeper one"
        )
    return node


def _tree_depth(root: A.Node) -> int:
    """Depth of the recursion compiling ``root`` needs (flat chains count once)."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if depth > MAX_TREE_DEPTH:
                break
        link = A.chain_link(node)
        for child in A.children(node):
            stack.append((child, depth if child is link else depth + 1))
    return deepest


def _reduce(operands: list[A.Node], tok: Token) -> None:
    right = operands.pop()
    left = operands.pop()
    op = tok.text
    if op == "or":
        operands.append(A.Or(tok.start, left, right))
    elif op == "and":
        operands.append(A.And(tok.start, left, right))
    elif op in _COMPARISON_OPS:
        operands.append(A.Compare(tok.start, op, left, right))
    else:
        operands.append(A.Arith(tok.start, op, left, right))


class _Parser:
    __slots__ = ("i", "in_type", "input_values", "nesting", "no_filter_at", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0
        self.in_type = False
        # `?` read so far: tells whether a unary test uses it without walking it again
        self.input_values = 0
        # nesting level of a range's end bound, where `[` closes the range (`]1..10[`)
        self.no_filter_at = -1

    # ------------------------------------------------------------ helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def error(self, expected: str, tok: Token | None = None) -> FeelSyntaxError:
        tok = tok or self.tok
        return FeelSyntaxError(self.text, tok.start, expected, tok.describe())

    def expect_op(self, op: str) -> Token:
        if not self.tok.is_op(op):
            raise self.error(f"'{op}'")
        return self.advance()

    def expect_kw(self, word: str) -> Token:
        if not self.tok.is_kw(word):
            raise self.error(f"'{word}'")
        return self.advance()

    def at_op(self, *ops: str) -> bool:
        tok = self.tok
        return tok.kind == OP and tok.text in ops

    def _enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise FeelSyntaxError(
                self.text,
                self.tok.start,
                f"less deeply nested brackets or sub-expressions (limit {MAX_NESTING})",
                "a deeper one",
            )

    # ------------------------------------------------------------ entry
    def parse_all(self) -> A.Node:
        if self.tok.kind == EOF:
            raise self.error("an expression")
        node = self.expression()
        if self.tok.kind != EOF:
            raise self.error("an operator or end of expression")
        return node

    def expression(self) -> A.Node:
        self._enter()
        try:
            tok = self.tok
            if tok.kind == NAME and not tok.quoted:
                word = tok.text
                if word == "if":
                    return self._if()
                if word in ("for", "some", "every") and self.peek().kind == NAME:
                    return self._iteration(word)
                if word == "function" and self.peek().is_op("("):
                    return self._function_def()
            return self._binary(_PREC_OR)
        finally:
            self.nesting -= 1

    # ------------------------------------------------------------ textual forms
    def _if(self) -> A.Node:
        # `else if` chains are read in a loop: a long chain is flat, not deep
        branches: list[tuple[int, A.Node, A.Node]] = []
        while True:
            start = self.advance().start
            cond = self.expression()
            self.expect_kw("then")
            branches.append((start, cond, self.expression()))
            self.expect_kw("else")
            tok = self.tok
            if not tok.is_kw("if"):
                break
        node = self.expression()
        for start, cond, then in reversed(branches):
            node = A.If(start, cond, then, node)
        return node

    def _iteration(self, word: str) -> A.Node:
        start = self.advance().start
        # feel-scala accepts `x in a..b` in for, some and every alike
        contexts = [self._iteration_context()]
        while self.at_op(","):
            self.advance()
            contexts.append(self._iteration_context())
        if word == "for":
            self.expect_kw("return")
            return A.For(start, tuple(contexts), self.expression())
        self.expect_kw("satisfies")
        return A.Quantified(start, word == "every", tuple(contexts), self.expression())

    def _iteration_context(self) -> A.IterationContext:
        tok = self.tok
        if tok.kind != NAME or (tok.text in KEYWORDS and not tok.quoted):
            raise self.error("an iteration variable name")
        name = self._name_words()
        self.expect_kw("in")
        domain = self.expression()
        end: A.Node | None = None
        if self.at_op(".."):
            self.advance()
            end = self.expression()
        return A.IterationContext(tok.start, name, domain, end)

    def _function_def(self) -> A.Node:
        start = self.advance().start
        self.expect_op("(")
        params: list[str] = []
        if not self.at_op(")"):
            while True:
                if self.tok.kind != NAME:
                    raise self.error("a parameter name")
                first = self.tok
                name = self._name_words()
                # feel-scala keeps a parameter name of several words as written, like a
                # context key: `function(a   b)` is called as f(a   b: 1) and read as `a   b`
                params.append(
                    name if first.quoted else self.text[first.start : self.tokens[self.i - 1].end]
                )
                if self.at_op(":"):
                    self.advance()
                    self._type_name()  # parameter types are documentation only
                if not self.at_op(","):
                    break
                self.advance()
        self.expect_op(")")
        if len(set(params)) != len(params):
            raise FeelSyntaxError(self.text, start, "distinct parameter names")
        if self.tok.kind == NAME and self.tok.text == "external" and self.peek().is_op("{"):
            raise self.error("a FEEL function body (external functions are not supported)")
        return A.FunctionDef(start, tuple(params), self.expression())

    # ------------------------------------------------------------ operators
    def _additive(self) -> A.Node:
        return self._binary(_PREC_ADD)

    def _binary(self, min_prec: int) -> A.Node:
        """Binary operators by precedence, with explicit stacks (operator precedence parsing).

        Long flat chains (``a or b or ...``, ``1 + 2 + ...``) therefore cost no
        parser recursion; every operator is left-associative, as in feel-scala.
        """
        operands = [self._unary()]
        ops: list[tuple[int, Token]] = []
        while True:
            tok = self.tok
            prec = self._infix_precedence(tok)
            if prec < min_prec:
                break
            while ops and ops[-1][0] >= prec:
                _reduce(operands, ops.pop()[1])
            self.advance()
            if prec == _PREC_CMP and tok.kind == NAME:
                operands.append(self._comparison_form(tok, operands.pop()))
                continue
            ops.append((prec, tok))
            operands.append(self._unary())
        while ops:
            _reduce(operands, ops.pop()[1])
        return operands[0]

    def _infix_precedence(self, tok: Token) -> int:
        """The precedence of ``tok`` as a binary operator, or 0 if it is none."""
        if tok.kind == OP:
            return _OP_PRECEDENCE.get(tok.text, 0)
        if tok.kind != NAME or tok.quoted:
            return 0
        word = tok.text
        if word == "or":
            return _PREC_OR
        if word == "and":
            return _PREC_AND
        if word == "between" or word == "in":
            return _PREC_CMP
        if word == "instance" and self.peek().kind == NAME and self.peek().text == "of":
            return _PREC_CMP
        return 0

    def _comparison_form(self, tok: Token, left: A.Node) -> A.Node:
        """``left between a and b``, ``left in tests``, ``left instance of type``."""
        if tok.text == "between":
            low = self._additive()
            self.expect_kw("and")
            return A.Between(tok.start, left, low, self._additive())
        if tok.text == "in":
            return A.In(tok.start, left, self._in_tests())
        self.advance()  # `of`
        return A.TypeTest(tok.start, left, self._type_name())

    def _unary(self) -> A.Node:
        if not self.at_op("-"):
            return self._postfix()
        signs: list[Token] = []
        try:
            while self.at_op("-"):
                signs.append(self.advance())
                self._enter()
            operand = self._postfix()
        finally:
            self.nesting -= len(signs)
        for tok in reversed(signs):
            if isinstance(operand, A.Const) and isinstance(operand.value, Decimal):
                operand = A.Const(tok.start, -operand.value)
            else:
                operand = A.Negate(tok.start, operand)
        return operand

    def _postfix(self) -> A.Node:
        node = self._primary()
        while True:
            tok = self.tok
            if tok.is_op("."):
                self.advance()
                if self.tok.kind != NAME or (
                    not self.tok.quoted and self.tok.text in RESERVED_WORDS
                ):
                    raise self.error("a name after '.'")
                node = A.Path(tok.start, node, self._name_words())
            elif tok.is_op("[") and self.nesting != self.no_filter_at:
                self.advance()
                cond = self.expression()
                self.expect_op("]")
                node = A.Filter(tok.start, node, cond)
            elif tok.is_op("("):
                node = self._call(node)
            else:
                return node

    def _call(self, callee: A.Node) -> A.Node:
        start = self.expect_op("(").start
        args: list[A.Node] = []
        named: list[tuple[str, A.Node]] = []
        if not self.at_op(")"):
            while True:
                name = self._named_argument_name()
                if name is not None:
                    if args:
                        raise self.error("only positional or only named arguments")
                    named.append((name, self.expression()))
                else:
                    if named:
                        raise self.error("only positional or only named arguments")
                    args.append(self.expression())
                if not self.at_op(","):
                    break
                self.advance()
        self.expect_op(")")
        if named:
            return A.Call(start, callee, (), tuple(named))
        return A.Call(start, callee, tuple(args), None)

    def _named_argument_name(self) -> str | None:
        j = self.i
        while self.tokens[j].kind == NAME:
            j += 1
        if j == self.i or not self.tokens[j].is_op(":"):
            return None
        first, last = self.tokens[self.i], self.tokens[j - 1]
        self.i = j + 1
        if first is last:
            return first.text
        return self.text[first.start : last.end]  # as written, like a parameter name

    # ------------------------------------------------------------ unary tests (after `in`)
    def _in_tests(self) -> tuple[A.Node, ...]:
        if not self.at_op("("):
            return (self._unary_test(single=True),)
        open_tok = self.advance()
        first = self._unary_test(single=False)
        if self.at_op("..") and isinstance(first, A.UnaryExpr):
            self.advance()
            end = self._range_end()
            close = self._range_close()
            rng = A.RangeLit(open_tok.start, first.expr, False, end, close)
            return (A.UnaryExpr(open_tok.start, rng, False),)
        tests = [first]
        while self.at_op(","):
            self.advance()
            tests.append(self._unary_test(single=False))
        self.expect_op(")")
        if len(tests) == 1 and isinstance(first, A.UnaryExpr):
            # a parenthesised expression, e.g. `x in (list)`; keep it one test
            return (first,)
        return tuple(tests)

    def _unary_test(self, single: bool) -> A.Node:
        tok = self.tok
        if tok.kind == OP and tok.text in _COMPARISON_OPS:
            self.advance()
            return A.UnaryCompare(tok.start, tok.text, self._additive())
        if tok.kind == NAME and tok.text == "not" and self.peek().is_op("("):
            self.advance()
            self.advance()
            self._enter()
            try:
                tests = [self._unary_test(single=False)]
                while self.at_op(","):
                    self.advance()
                    tests.append(self._unary_test(single=False))
            finally:
                self.nesting -= 1
            self.expect_op(")")
            return A.UnaryNot(tok.start, tuple(tests))
        before = self.input_values
        start = self.i
        expr = self._additive() if single else self.expression()
        tok_next = self.tok
        if (
            single
            and self.input_values != before
            and tok_next.kind == OP
            and tok_next.text in _COMPARISON_OPS
        ):
            # `5 in ? < 10`: a test on the input value takes the whole comparison
            self.i, self.input_values = start, before
            expr = self._binary(_PREC_CMP)
        if (
            single
            and tok_next.kind == EOF
            and isinstance(expr, A.Const)
            and type(expr.value) is bool
        ):
            # feel-scala: a boolean literal that ends the text is compared with the value
            # (`flag in false`); anywhere else it is a condition (`flag in (false)` is false)
            return A.UnaryCompare(tok.start, "=", expr)
        return A.UnaryExpr(tok.start, expr, self.input_values != before)

    # ------------------------------------------------------------ primaries
    def _primary(self) -> A.Node:
        tok = self.tok
        kind = tok.kind
        if kind == NUM:
            self.advance()
            return A.Const(tok.start, Decimal(tok.text))
        if kind == STR:
            self.advance()
            return A.Const(tok.start, tok.text)
        if kind == TEMPORAL:
            self.advance()
            value = self._temporal(tok)
            if value is None:
                return A.InvalidLiteral(tok.start, tok.text)
            return A.Const(tok.start, value)
        if kind == NAME:
            return self._name_primary()
        if kind == OP:
            if tok.text == "(":
                return self._paren()
            if tok.text == "[":
                return self._bracket()
            if tok.text == "]":
                return self._open_range()
            if tok.text == "{":
                return self._context()
            if tok.text in ("<", "<=", ">", ">="):
                # a comparison used as a value is a range (before(< 3, 5)); feel-scala
                # would test the DMN input `cellInput` with it, which expressions lack
                self.advance()
                self._enter()
                try:
                    bound = self._additive()
                finally:
                    self.nesting -= 1
                if tok.text.startswith("<"):
                    return A.RangeLit(tok.start, None, False, bound, tok.text == "<=")
                return A.RangeLit(tok.start, bound, tok.text == ">=", None, False)
        raise self.error("an expression")

    def _temporal(self, tok: Token) -> Any:
        from .runtime import parse_temporal_literal

        return parse_temporal_literal(tok.text)

    def _name_primary(self) -> A.Node:
        tok = self.tok
        if not tok.quoted:
            word = tok.text
            if word == "true" or word == "false":
                self.advance()
                return A.Const(tok.start, word == "true")
            if word == "null":
                self.advance()
                return A.Const(tok.start, None)
            if word == "?":
                self.input_values += 1
                self.advance()
                return A.InputValue(tok.start)
            if word in ("and", "or") and self.peek().is_op("("):
                self.advance()  # the list functions and(...) / or(...)
                return A.Name(tok.start, word)
            if word in KEYWORDS:
                raise self.error("an expression")
        return A.Name(tok.start, self._name_words())

    def _name_words(self) -> str:
        """Consume a (possibly multi-word) name and return it with single spaces."""
        first = self.advance()
        if first.quoted:
            return first.text
        last = first
        while True:
            nxt = self.tok
            if nxt.kind == NAME and not nxt.quoted and nxt.text not in KEYWORDS:
                last = self.advance()
                continue
            if nxt.kind == NAME and nxt.text in ("and", "or"):
                joined = self._keyword_name(first, last)
                if joined is not None:
                    last = joined
                    continue
            break
        if first is last:
            return first.text
        return _WS.sub(" ", self.text[first.start : last.end])

    def _keyword_name(self, first: Token, last: Token) -> Token | None:
        """Extend a name over ``and``/``or`` when that spells a known built-in name."""
        prefix = _WS.sub(" ", self.text[first.start : last.end])
        j = self.i
        words = [prefix, self.tokens[j].text]
        j += 1
        while self.tokens[j].kind == NAME and not self.tokens[j].quoted:
            words.append(self.tokens[j].text)
            candidate = " ".join(words)
            if candidate in KEYWORD_NAMES and (self.in_type or self.tokens[j + 1].is_op("(")):
                self.i = j + 1
                return self.tokens[j]
            if self.tokens[j].text in KEYWORDS:
                break
            j += 1
        return None

    def _type_name(self) -> str:
        start_tok = self.tok
        while True:  # `function<a> -> b -> c`: a loop, however long the chain
            if self.tok.kind != NAME:
                raise self.error("a type name")
            self.in_type = True
            try:
                self._name_words()
            finally:
                self.in_type = False
            if self.at_op("<"):
                depth = 0
                while True:
                    tok = self.advance()
                    if tok.kind == EOF:
                        raise self.error("'>' closing the type parameters")
                    if tok.is_op("<"):
                        depth += 1
                    elif tok.is_op(">"):
                        depth -= 1
                        if depth == 0:
                            break
            if not self.at_op("->"):
                break
            self.advance()
        end = self.tokens[self.i - 1].end
        return _WS.sub(" ", self.text[start_tok.start : end]).strip()

    def _paren(self) -> A.Node:
        open_tok = self.advance()
        node = self.expression()
        if self.at_op(".."):
            self.advance()
            end = self._range_end()
            return A.RangeLit(open_tok.start, node, False, end, self._range_close())
        self.expect_op(")")
        return node

    def _bracket(self) -> A.Node:
        open_tok = self.advance()
        if self.at_op("]"):
            self.advance()
            return A.ListLit(open_tok.start, ())
        first = self.expression()
        if self.at_op(".."):
            self.advance()
            end = self._range_end()
            return A.RangeLit(open_tok.start, first, True, end, self._range_close())
        items = [first]
        while self.at_op(","):
            self.advance()
            items.append(self.expression())
        self.expect_op("]")
        return A.ListLit(open_tok.start, tuple(items))

    def _open_range(self) -> A.Node:
        open_tok = self.advance()
        start = self.expression()
        self.expect_op("..")
        end = self._range_end()
        return A.RangeLit(open_tok.start, start, False, end, self._range_close())

    def _range_end(self) -> A.Node:
        saved = self.no_filter_at
        self.no_filter_at = self.nesting + 1
        try:
            return self.expression()
        finally:
            self.no_filter_at = saved

    def _range_close(self) -> bool:
        tok = self.tok
        if tok.is_op("]"):
            self.advance()
            return True
        if tok.is_op(")") or tok.is_op("["):
            self.advance()
            return False
        raise self.error("']', ')' or '[' closing the range")

    def _context(self) -> A.Node:
        open_tok = self.advance()
        entries: list[tuple[str, A.Node]] = []
        seen: set[str] = set()
        if self.at_op("}"):
            self.advance()
            return A.ContextLit(open_tok.start, ())
        while True:
            key_tok = self.tok
            key = self._context_key()
            if key in seen:
                raise FeelSyntaxError(self.text, key_tok.start, f"a unique key, not '{key}'")
            seen.add(key)
            self.expect_op(":")
            entries.append((key, self.expression()))
            if not self.at_op(","):
                break
            self.advance()
        self.expect_op("}")
        return A.ContextLit(open_tok.start, tuple(entries))

    def _context_key(self) -> str:
        tok = self.tok
        if tok.kind == STR:
            self.advance()
            return tok.text
        if tok.kind == NAME and tok.quoted:
            self.advance()
            return tok.text
        # feel-scala: any characters up to the ':' except "{}:,[]` and the double quote,
        # kept as written (inner whitespace included): {Content-Type: 1}, {a#b: 2},
        # {foo   bar: 3}.`foo   bar`
        end = tok.start
        text = self.text
        while end < len(text) and text[end] not in _KEY_STOP:
            end += 1
        key = rstrip_whitespace(text[tok.start : end])
        if not key or end >= len(text) or text[end] != ":":
            raise self.error("a context key (name or string) followed by ':'")
        while self.tok.start < end:
            self.advance()
        if not self.tok.is_op(":") or self.tok.start != end:
            raise self.error("a context key (name or string) followed by ':'")
        return key
