"""The variables an expression may read from its input context (``Expression.free_names``).

Callers use the set to decide what to fetch before evaluating, so it must never
miss a name the evaluation could read; it may name a few that turn out not to
be read. Where FEEL resolves a name at run time, the name is included:

- inside a filter ``list[condition]`` a bare name is first looked up in the
  element and only then in the outer context, so ``items[price > limit]``
  reports ``items``, ``price`` and ``limit`` (``item`` itself is the element);
- a context entry sees the entries before it; a name matching the same or a
  later entry is read from outside, as the entry does not exist yet
  (``{a: b, b: 1}`` reads the variable ``b``). Function bodies see every entry
  of the context they are defined in, as they usually run after it is built.

Names bound by ``for``/``some``/``every`` (and ``partial``), function
parameters and built-in function names in call position are not reported.
The input value ``?`` is reported as the name ``"?"`` where it is read from the
input context, i.e. outside a unary test such as ``x in (? > 1)``.
"""

from __future__ import annotations

from collections.abc import Collection

from . import ast as A

#: Functions the compiler implements itself rather than in the built-in table.
_SPECIAL_FUNCTIONS = frozenset({"is defined"})


class _Scope:
    """Names bound around a node: one link per binding construct, innermost first.

    ``entries`` maps a context literal's keys to their positions; ``visible``
    is how many of them the node sees (all of them inside a function body).
    """

    __slots__ = ("entries", "function", "names", "parent", "visible")

    def __init__(
        self,
        parent: _Scope | None,
        names: frozenset[str] = frozenset(),
        entries: dict[str, int] | None = None,
        visible: int = 0,
        function: bool = False,
    ) -> None:
        self.parent = parent
        self.names = names
        self.entries = entries
        self.visible = visible
        self.function = function


def _resolve(scope: _Scope | None, name: str) -> tuple[bool, bool]:
    """(bound at run time, bound as far as the compiler can tell) for ``name``."""
    in_function = False
    declared = False
    while scope is not None:
        if scope.function:
            in_function = True
        if name in scope.names:
            return True, True
        if scope.entries is not None:
            index = scope.entries.get(name)
            if index is not None:
                if in_function or index < scope.visible:
                    return True, True
                declared = True  # the entry does not exist yet: look further out
        scope = scope.parent
    return False, declared


def _is_function(name: str, builtin_names: Collection[str]) -> bool:
    return name in builtin_names or name in _SPECIAL_FUNCTIONS


def free_names(root: A.Node, builtin_names: Collection[str]) -> frozenset[str]:
    """Root names of the variables ``root`` may read from the input context."""
    found: set[str] = set()
    # (node, scope, inside a filter?, inside a unary test that binds `?`?)
    stack: list[tuple[A.Node, _Scope | None, bool, bool]] = [(root, None, False, False)]
    push = stack.append
    while stack:
        node, scope, in_filter, has_input = stack.pop()
        if isinstance(node, A.Name):
            name = node.name
            if not (name == "item" and in_filter) and not _resolve(scope, name)[0]:
                found.add(name)
        elif isinstance(node, A.InputValue):
            if not has_input:  # outside a unary test `?` is a variable of the input
                found.add("?")
        elif isinstance(node, A.UnaryExpr) and node.uses_input:
            push((node.expr, scope, in_filter, True))
        elif isinstance(node, A.Call):
            callee = node.callee
            if isinstance(callee, A.Name):
                bound, declared = _resolve(scope, callee.name)
                # a built-in is called directly unless a local name could hide it
                if not bound and (declared or not _is_function(callee.name, builtin_names)):
                    found.add(callee.name)
            else:
                push((callee, scope, in_filter, has_input))
            args = node.args if node.named is None else tuple(e for _, e in node.named)
            for arg in args:
                push((arg, scope, in_filter, has_input))
        elif isinstance(node, A.Filter):
            push((node.target, scope, in_filter, has_input))
            push((node.condition, scope, True, has_input))
        elif isinstance(node, A.For | A.Quantified):
            for ctx in node.contexts:
                push((ctx.domain, scope, in_filter, has_input))
                if ctx.range_end is not None:
                    push((ctx.range_end, scope, in_filter, has_input))
                scope = _Scope(scope, frozenset({ctx.name}))
            if isinstance(node, A.For):
                push((node.body, _Scope(scope, frozenset({"partial"})), in_filter, has_input))
            else:
                push((node.condition, scope, in_filter, has_input))
        elif isinstance(node, A.FunctionDef):
            push(
                (
                    node.body,
                    _Scope(scope, frozenset(node.params), function=True),
                    in_filter,
                    has_input,
                )
            )
        elif isinstance(node, A.ContextLit):
            keys = {key: i for i, (key, _) in enumerate(node.entries)}
            for i, (_, value) in enumerate(node.entries):
                push((value, _Scope(scope, entries=keys, visible=i), in_filter, has_input))
        else:
            for child in A.children(node):
                push((child, scope, in_filter, has_input))
    return frozenset(found)
