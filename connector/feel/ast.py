"""Abstract syntax tree of FEEL expressions (produced by the parser, never modified)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, eq=False)
class Node:
    pos: int


@dataclass(slots=True, eq=False)
class Const(Node):
    """A literal whose value is known at parse time (number, string, bool, null, @"...")."""

    value: Any


@dataclass(slots=True, eq=False)
class Name(Node):
    name: str


@dataclass(slots=True, eq=False)
class InputValue(Node):
    """``?``: the value under test inside a unary test."""


@dataclass(slots=True, eq=False)
class Path(Node):
    target: Node
    name: str


@dataclass(slots=True, eq=False)
class Filter(Node):
    target: Node
    condition: Node


@dataclass(slots=True, eq=False)
class Call(Node):
    callee: Node
    args: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...] | None  # None for positional invocation


@dataclass(slots=True, eq=False)
class Negate(Node):
    operand: Node


@dataclass(slots=True, eq=False)
class Arith(Node):
    op: str  # + - * / **
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class Compare(Node):
    op: str  # = != < <= > >=
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class And(Node):
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class Or(Node):
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(slots=True, eq=False)
class TypeTest(Node):
    value: Node
    type_name: str


@dataclass(slots=True, eq=False)
class UnaryCompare(Node):
    """``< 10`` inside unary tests: compare the input value with ``operand``."""

    op: str
    operand: Node


@dataclass(slots=True, eq=False)
class UnaryExpr(Node):
    """A unary test given as an expression (value, list, range, or boolean using ``?``)."""

    expr: Node
    uses_input: bool


@dataclass(slots=True, eq=False)
class UnaryNot(Node):
    tests: tuple[Node, ...]


@dataclass(slots=True, eq=False)
class In(Node):
    value: Node
    tests: tuple[Node, ...]


@dataclass(slots=True, eq=False)
class If(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(slots=True, eq=False)
class IterationContext(Node):
    name: str
    domain: Node
    range_end: Node | None  # ``x in 1..n``


@dataclass(slots=True, eq=False)
class InvalidLiteral(Node):
    """A temporal literal (``@"2023-02-29"``) that names no valid value: null when evaluated,
    as in feel-scala, not a syntax error."""

    text: str


@dataclass(slots=True, eq=False)
class For(Node):
    contexts: tuple[IterationContext, ...]
    body: Node


@dataclass(slots=True, eq=False)
class Quantified(Node):
    every: bool
    contexts: tuple[IterationContext, ...]
    condition: Node


@dataclass(slots=True, eq=False)
class FunctionDef(Node):
    params: tuple[str, ...]
    body: Node


@dataclass(slots=True, eq=False)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(slots=True, eq=False)
class ContextLit(Node):
    entries: tuple[tuple[str, Node], ...]


@dataclass(slots=True, eq=False)
class RangeLit(Node):
    start: Node | None
    start_included: bool
    end: Node | None
    end_included: bool


def children(node: Node) -> list[Node]:
    """Direct child nodes, for generic walks (e.g. 'does this use ?')."""
    out: list[Node] = []
    for name in node.__slots__:
        value = getattr(node, name)
        if isinstance(value, Node):
            out.append(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    out.append(item)
                elif isinstance(item, tuple):
                    out.extend(x for x in item if isinstance(x, Node))
    return out


def walk(node: Node) -> list[Node]:
    """All nodes of the tree, iteratively (trees are depth-limited anyway)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children(current))
    return out


_ARITH_GROUPS = {"+": "+", "-": "+", "*": "*", "/": "*", "**": "**"}


def chain_group(node: Node) -> str | None:
    """The kind of flat chain ``node`` can be a link of (``a + b - c``, ``x or y``), if any.

    Binary operators are left-associative, so a chain is a left spine of nodes
    of one group; the compiler turns it into a loop instead of nested calls.
    """
    t = type(node)
    if t is Or:
        return "or"
    if t is And:
        return "and"
    if t is Arith:
        assert isinstance(node, Arith)
        return _ARITH_GROUPS[node.op]
    return None


def chain_link(node: Node) -> Node | None:
    """The child that continues ``node``'s flat chain (compiled without recursion), if any."""
    if isinstance(node, If):
        return node.otherwise if isinstance(node.otherwise, If) else None
    group = chain_group(node)
    if group is None:
        return None
    assert isinstance(node, Or | And | Arith)
    left = node.left
    return left if chain_group(left) == group else None
