"""AST -> tree of Python closures.

Every node becomes a function ``f(scope) -> value`` with its children bound
at compile time, so evaluation does no dispatch on node types. Nodes that
only pass a value along (context/list entries, the final result) use *raw*
closures that skip input conversion; everything else receives converted
values (see :mod:`connector.feel.runtime`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from . import ast as A
from . import fastpaths as fast
from . import semantics
from .runtime import (
    EMPTY,
    MAX_ITEMS,
    MAX_TEXT,
    MISSING,
    NATIVE,
    Scope,
    arith,
    call_failed,
    check_clock,
    check_size,
    compare,
    count_steps,
    cv,
    deep,
    equal,
    from_feel,
    in_range,
    lookup,
    lookup_item,
    member,
    negate,
    warn,
)
from .values import (
    DECIMAL_CONTEXT,
    EvaluationAborted,
    FeelFunction,
    FeelFunctionError,
    Param,
    Range,
)

Fn = Callable[[Scope], Any]
_ADD = DECIMAL_CONTEXT.add
_SUB = DECIMAL_CONTEXT.subtract
_MUL = DECIMAL_CONTEXT.multiply

#: Iterations between two reads of the clock inside one loop.
_CLOCK_MASK = 1023

_builtins_cache: dict[str, list[FeelFunction]] | None = None


def builtins() -> dict[str, list[FeelFunction]]:
    """The built-in function table (loaded on first use)."""
    global _builtins_cache
    if _builtins_cache is None:
        try:
            module = importlib.import_module("connector.feel.builtins")
            table: dict[str, list[FeelFunction]] = dict(module.BUILTINS)
        except (ImportError, AttributeError):
            table = {}
        _builtins_cache = table
    return _builtins_cache


def compile_node(node: A.Node) -> tuple[Fn, Callable[[Any], Any]]:
    """The evaluation closure of ``node`` and the converter for its result.

    Values read unchanged from the caller's context are handed back as the
    same objects (they already are plain Python values), so a result that is
    known to come from the context skips the deep output conversion.
    """
    compiler = _Compiler()
    if isinstance(node, A.ContextLit) and not _self_referencing(node):
        # build the result directly in output form: nothing to convert afterwards
        entries = [(key, compiler.compile_output(value)) for key, value in node.entries]
        return _output_context(entries), _identity
    fn = compiler.compile(node, raw=True)
    return fn, (_source_out if _from_source(node) else from_feel)


def _self_referencing(node: A.ContextLit) -> bool:
    keys = {k for k, _ in node.entries}
    return any(
        isinstance(n, A.Name) and n.name in keys for _, value in node.entries for n in A.walk(value)
    )


def _identity(value: Any) -> Any:
    return value


def _output_context(entries: list[tuple[str, Fn]]) -> Fn:
    if len(entries) == 2:
        (k0, f0), (k1, f1) = entries
        return lambda s: {k0: f0(s), k1: f1(s)}
    return lambda s: {key: f(s) for key, f in entries}


def _from_source(node: A.Node) -> bool:
    """Whether the value of ``node`` is (a part or a filtered list of) a caller's variable."""
    while isinstance(node, A.Path | A.Filter):
        node = node.target
    return isinstance(node, A.Name) and node.name not in ("item", "?")


_PLAIN_OUT: frozenset[type] = frozenset({str, int, bool, type(None), dict})
#: Result types of built-ins whose size the budget bounds.
_SIZED: frozenset[type] = frozenset({str, list, dict})


def _source_out(value: Any) -> Any:
    t = type(value)
    if t in _PLAIN_OUT:
        return value
    if t is list:
        for x in value:
            if type(x) not in _PLAIN_OUT:
                return [y if type(y) in _PLAIN_OUT else from_feel(y) for y in value]
        return value
    return from_feel(value)


class _Compiler:
    def __init__(self) -> None:
        # names bound by enclosing for/function/context literal (with how many binders
        # bind each): they shadow built-ins
        self.bound: dict[str, int] = {}
        # >0 inside filter conditions and unary tests, where names may be element members
        self.dynamic = 0
        # every name compiled so far, and how many functions: an enclosing construct
        # asks "did my part use X?" without walking its subtree again (which would
        # make compiling deeply nested expressions quadratic)
        self.names_used: list[str] = []
        self.functions = 0

    def compile_output(self, node: A.Node) -> Fn:
        """A closure whose value is already in output form (see :func:`compile_node`)."""
        if isinstance(node, A.Path):
            root = self._root_name(node.target)
            if root is not None:
                return fast.root_path(root, node.name, raw=True, out=True)
        f = self.compile(node, raw=True)
        if _from_source(node):

            def source_value(s: Scope) -> Any:
                v = f(s)
                return v if type(v) in _PLAIN_OUT else _source_out(v)

            return source_value
        return lambda s: from_feel(f(s))

    def bound_locally(self, name: str) -> bool:
        return name in self.bound

    def push_locals(self, names: Iterable[str]) -> None:
        bound = self.bound
        for name in names:
            bound[name] = bound.get(name, 0) + 1

    def pop_locals(self, names: Iterable[str]) -> None:
        bound = self.bound
        for name in names:
            if bound[name] == 1:
                del bound[name]
            else:
                bound[name] -= 1

    def compile(self, node: A.Node, raw: bool = False) -> Fn:
        method = getattr(self, "c_" + type(node).__name__)
        result: Fn = method(node, raw) if type(node) in _RAW_AWARE else method(node)
        return result

    # ------------------------------------------------------------ leaves
    def c_Const(self, node: A.Const) -> Fn:
        value = node.value
        return lambda s: value

    def c_InvalidLiteral(self, node: A.InvalidLiteral) -> Fn:
        # the text may come from the expression only, so it is safe to name it
        message = f"Failed to parse temporal value from '{node.text}'"

        def invalid(s: Scope) -> Any:
            warn(s, message)
            return None

        return invalid

    def c_Name(self, node: A.Name, raw: bool) -> Fn:
        name = node.name
        self.names_used.append(name)
        if name == "item":
            return _item_lookup(raw)
        message = f"No variable found with name '{name}'"
        if not self.dynamic and not self.bound_locally(name):
            return fast.root_lookup(name, message, raw)

        if raw:

            def name_raw(s: Scope) -> Any:
                v = s[0].get(name, MISSING)
                if v is MISSING:
                    v = lookup(s[1], name)
                    if v is MISSING:
                        warn(s, message)
                        return None
                return v

            return name_raw

        def name_value(s: Scope) -> Any:
            v = s[0].get(name, MISSING)
            if v is MISSING:
                v = lookup(s[1], name)
                if v is MISSING:
                    warn(s, message)
                    return None
            return v if type(v) in NATIVE else cv(v)

        return name_value

    def c_InputValue(self, node: A.InputValue) -> Fn:
        def input_value(s: Scope) -> Any:
            v = lookup(s, "?")
            if v is MISSING:
                # feel-scala fails the evaluation here rather than giving null
                raise EvaluationAborted(
                    "No input value available. '?' can only be used inside a unary test"
                )
            return v

        return input_value

    # ------------------------------------------------------------ paths and filters
    def c_Path(self, node: A.Path, raw: bool) -> Fn:
        key = node.name
        missing = f"No context entry found with key '{key}'"
        root = self._root_name(node.target)
        if root is not None:
            return fast.root_path(root, key, raw)
        target = self.compile(node.target, raw=True)

        if raw:

            def path_raw(s: Scope) -> Any:
                v = target(s)
                if type(v) is dict:
                    r = v.get(key, MISSING)
                    if r is not MISSING:
                        return r
                    warn(s, missing)
                    return None
                return member(v, key, s)

            return path_raw

        def path(s: Scope) -> Any:
            v = target(s)
            if type(v) is dict:
                r = v.get(key, MISSING)
                if r is not MISSING:
                    return r if type(r) in NATIVE else cv(r)
                warn(s, missing)
                return None
            return member(v, key, s)

        return path

    def _root_name(self, node: A.Node) -> str | None:
        """The variable name if ``node`` reads a caller's variable directly."""
        if (
            isinstance(node, A.Name)
            and node.name != "item"
            and not self.dynamic
            and not self.bound_locally(node.name)
        ):
            return node.name
        return None

    def c_Filter(self, node: A.Filter) -> Fn:
        target = self.compile(node.target, raw=True)
        cond_node = node.condition
        if isinstance(cond_node, A.Const) and type(cond_node.value) is Decimal:
            index = cond_node.value
            return lambda s: _index(target(s), index, s)
        functions = self.functions
        self.dynamic += 1
        try:
            cond = self.compile(cond_node)
        finally:
            self.dynamic -= 1
        specialised = fast.member_filter(cond_node)
        if specialised is not None:
            loop, name, type_a, const_a, type_b, const_b, type_c, const_c = specialised

            def member_filter(s: Scope) -> Any:
                v = target(s)
                if type(v) is not list:
                    v = _as_list(v, s)
                    if v is None:
                        return None
                return loop(v, name, type_a, const_a, type_b, const_b, type_c, const_c, s, cond)

            return member_filter
        # a frame can be reused across elements unless a closure could capture it
        reuse = self.functions == functions

        def filter_(s: Scope) -> Any:
            v = target(s)
            if type(v) is not list:
                v = _as_list(v, s)
                if v is None:
                    return None
            state = s[2]
            if not v:
                return []
            frame = [EMPTY, s, state, MISSING]
            first = v[0]
            frame[3] = first = cv(first)
            frame[0] = first if type(first) is dict else EMPTY
            r = cond(frame)
            if type(r) is Decimal:
                return _index(v, r, s)
            out = [first] if r is True else []
            for item in v[1:]:
                if not reuse:
                    frame = [EMPTY, s, state, MISSING]
                if type(item) is dict:
                    frame[0] = frame[3] = item
                else:
                    frame[3] = item = cv(item)
                    frame[0] = item if type(item) is dict else EMPTY
                if cond(frame) is True:
                    out.append(item)
            return out

        return filter_

    # ------------------------------------------------------------ calls
    def c_Call(self, node: A.Call) -> Fn:
        callee = node.callee
        if isinstance(callee, A.Name):
            self.names_used.append(callee.name)
        if isinstance(callee, A.Name) and not self.bound_locally(callee.name):
            name = callee.name
            if name == "is defined" and node.named is None and len(node.args) == 1:
                return self._is_defined(node.args[0])
            overloads = builtins().get(name)
            if overloads:
                return self._builtin_call(name, overloads, node)
        return self._dynamic_call(node)

    def _args(self, node: A.Call) -> tuple[list[Fn], list[str] | None]:
        if node.named is None:
            return [self.compile(a, raw=True) for a in node.args], None
        return [self.compile(e, raw=True) for _, e in node.named], [n for n, _ in node.named]

    def _builtin_call(self, name: str, overloads: list[FeelFunction], node: A.Call) -> Fn:
        args, names = self._args(node)
        if names is None:
            fn = _pick_positional(overloads, len(args))
            if fn is None:
                message = f"No function found with name '{name}' and {len(args)} parameters"

                def no_overload(s: Scope) -> Any:
                    for a in args:
                        a(s)
                    warn(s, message)
                    return None

                return no_overload
            impl = fn.impl
            shortcut = fast.SHORTCUTS.get((name, len(args)))
            if shortcut is not None:
                return shortcut(args, impl, name)
            if len(args) == 1:
                a0 = args[0]

                def call1(s: Scope) -> Any:
                    x = a0(s)
                    if type(x) not in fast.FLAT:
                        x = deep(x)
                    try:
                        r = impl(x)
                    except Exception as error:  # built-ins must never crash evaluation
                        return call_failed(s, name, error)
                    return r if type(r) not in _SIZED else check_size(r)

                return call1

            def call_n(s: Scope) -> Any:
                values = [fast.arg(a(s)) for a in args]
                try:
                    r = impl(*values)
                except Exception as error:
                    return call_failed(s, name, error)
                return r if type(r) not in _SIZED else check_size(r)

            return call_n

        arg_names = names

        def call_named(s: Scope) -> Any:
            values = [deep(a(s)) for a in args]
            return invoke_named(overloads, name, dict(zip(arg_names, values, strict=True)), s)

        return call_named

    def _dynamic_call(self, node: A.Call) -> Fn:
        callee = node.callee
        label = callee.name if isinstance(callee, A.Name) else "anonymous"
        if isinstance(callee, A.Name):
            name = callee.name

            def resolve(s: Scope) -> Any:
                # a variable holding a function wins; other variables don't hide built-ins
                found = lookup(s, name)
                v = None if found is MISSING else cv(found)
                if type(v) is FeelFunction:
                    return v
                overloads = builtins().get(name)
                if overloads:
                    return overloads
                if v is None:
                    warn(s, f"No function found with name '{name}'")
                    return None
                return v

            target: Fn = resolve
        else:
            target = self.compile(callee)
        args, names = self._args(node)

        def dynamic_call(s: Scope) -> Any:
            f = target(s)
            values = [fast.arg(a(s)) for a in args]
            if f is None:
                return None
            if type(f) is FeelFunction and names is None and len(f.params) == len(values):
                try:
                    return f.call(values)
                except EvaluationAborted:
                    raise
                except Exception as error:
                    return call_failed(s, label, error)
            overloads = f if type(f) is list else [f]
            if not all(isinstance(o, FeelFunction) for o in overloads):
                warn(s, f"'{label}' is not a function")
                return None
            if names is None:
                chosen = _pick_positional(overloads, len(values))
                if chosen is None:
                    warn(s, f"No function found with name '{label}' and {len(values)} parameters")
                    return None
                try:
                    return chosen.call(values)
                except EvaluationAborted:
                    raise
                except Exception as error:
                    return call_failed(s, label, error)
            return invoke_named(overloads, label, dict(zip(names, values, strict=True)), s)

        return dynamic_call

    def _is_defined(self, arg: A.Node) -> Fn:
        if isinstance(arg, A.Name):
            name = arg.name
            self.names_used.append(name)
            if name == "item":
                return lambda s: lookup_item(s) not in (MISSING, None)
            return lambda s: lookup(s, name) not in (MISSING, None)
        if isinstance(arg, A.Path):
            parent = self._is_defined(arg.target)
            target = self.compile(arg.target, raw=True)
            key = arg.name

            def path_defined(s: Scope) -> bool:
                if not parent(s):
                    return False
                v = target(s)
                if type(v) is dict:
                    return v.get(key) is not None
                # projections and properties: defined when they yield a value
                return member(v, key, [{}, None, [0, {}], MISSING]) is not None

            return path_defined
        value = self.compile(arg)
        return lambda s: value(s) is not None

    # ------------------------------------------------------------ operators
    def c_Negate(self, node: A.Negate) -> Fn:
        operand = self.compile(node.operand)
        return lambda s: negate(operand(s), s)

    def c_Arith(self, node: A.Arith) -> Fn:
        first, links = _flatten(node)
        left = self.compile(first)
        if len(links) == 1:
            op, right_node = links[0]
            return _arith2(op, left, self.compile(right_node))
        steps = [(_ARITH_STEPS[op], self.compile(n)) for op, n in links]

        def arith_chain(s: Scope) -> Any:
            a = left(s)
            for step, right in steps:
                a = step(a, right(s), s)
            return a

        return arith_chain

    def c_Compare(self, node: A.Compare) -> Fn:
        op = node.op
        left = self.compile(node.left, raw=True)
        right = self.compile(node.right, raw=True)
        if isinstance(node.right, A.Const):
            general = fast.compare_const(op, left, node.right.value)
            if isinstance(node.left, A.Path):
                root = self._root_name(node.left.target)
                if root is not None:
                    return fast.root_path_compare(
                        root, node.left.name, op, node.right.value, general
                    )
            return general
        if op == "=":

            def eq(s: Scope) -> Any:
                a = left(s)
                b = right(s)
                t = type(a)
                if t is type(b) and (t is str or t is Decimal or t is bool or t is int):
                    return a == b
                return equal(cv(a), cv(b), s)

            return eq
        if op == "!=":

            def ne(s: Scope) -> Any:
                r = equal(cv(left(s)), cv(right(s)), s)
                return None if r is None else not r

            return ne
        test = fast.ORDER_TESTS[op]

        def order(s: Scope) -> Any:
            c = compare(cv(left(s)), cv(right(s)), s)
            return None if c is None else test(c)

        return order

    def c_And(self, node: A.And) -> Fn:
        first, links = _flatten(node)
        operands = [self.compile(first)] + [self.compile(n) for _, n in links]
        if len(operands) == 2:
            left, right = operands

            def and_(s: Scope) -> Any:
                a = left(s)
                if a is False:
                    return False
                b = right(s)
                if b is False:
                    return False
                if a is True and b is True:
                    return True
                return None

            return and_

        def and_chain(s: Scope) -> Any:
            # false as soon as one is false; true if all are true; else null
            result: bool | None = True
            for f in operands:
                v = f(s)
                if v is False:
                    return False
                if v is not True:
                    result = None
            return result

        return and_chain

    def c_Or(self, node: A.Or) -> Fn:
        first, links = _flatten(node)
        operands = [self.compile(first)] + [self.compile(n) for _, n in links]
        if len(operands) == 2:
            left, right = operands

            def or_(s: Scope) -> Any:
                a = left(s)
                if a is True:
                    return True
                b = right(s)
                if b is True:
                    return True
                if a is False and b is False:
                    return False
                return None

            return or_

        def or_chain(s: Scope) -> Any:
            # true as soon as one is true; false if all are false; else null
            result: bool | None = False
            for f in operands:
                v = f(s)
                if v is True:
                    return True
                if v is not False:
                    result = None
            return result

        return or_chain

    def c_Between(self, node: A.Between) -> Fn:
        value = self.compile(node.value)
        low = self.compile(node.low)
        high = self.compile(node.high)

        def between(s: Scope) -> Any:
            v = value(s)
            c1 = compare(low(s), v, s)
            c2 = compare(v, high(s), s)
            if c1 is None or c2 is None:
                return None
            return c1 <= 0 and c2 <= 0

        return between

    def c_TypeTest(self, node: A.TypeTest) -> Fn:
        value = self.compile(node.value)
        type_name = node.type_name
        return lambda s: semantics.is_instance_of(deep(value(s)), type_name)

    # ------------------------------------------------------------ unary tests
    def c_In(self, node: A.In) -> Fn:
        value = self.compile(node.value)
        tests = [self._unary_test(t) for t in node.tests]
        if len(tests) == 1:
            only = tests[0]
            return lambda s: only(s, value(s))

        def in_(s: Scope) -> Any:
            # a list of tests matches if one does; null if undecided (feel-scala's fold)
            v = value(s)
            undecided = False
            for t in tests:
                r = t(s, v)
                if r is True:
                    return True
                if r is not False:
                    undecided = True
            return None if undecided else False

        return in_

    def _unary_test(self, node: A.Node) -> Callable[[Scope, Any], Any]:
        if isinstance(node, A.UnaryCompare):
            operand = self.compile(node.operand)
            if node.op == "=":
                return lambda s, v: equal(v, operand(s), s)
            if node.op == "!=":

                def not_equal(s: Scope, v: Any) -> Any:
                    r = equal(v, operand(s), s)
                    return None if r is None else not r

                return not_equal
            test = fast.ORDER_TESTS[node.op]

            def ordered(s: Scope, v: Any) -> Any:
                c = compare(v, operand(s), s)
                return None if c is None else test(c)

            return ordered
        if isinstance(node, A.UnaryNot):
            inner = [self._unary_test(t) for t in node.tests]

            def negated(s: Scope, v: Any) -> Any:
                results = [t(s, v) for t in inner]
                if any(r is True for r in results):
                    return False
                if any(r is None for r in results):
                    return None
                return True

            return negated
        assert isinstance(node, A.UnaryExpr)
        if node.uses_input:
            self.dynamic += 1
            try:
                expr = self.compile(node.expr)
            finally:
                self.dynamic -= 1

            def with_input(s: Scope, v: Any) -> Any:
                # a test on '?' is a condition: anything but a boolean is null (feel-scala)
                r = expr([{"?": v}, s, s[2], MISSING])
                return r if type(r) is bool else None

            return with_input
        plain = self.compile(node.expr)
        return lambda s, v: _matches(v, plain(s), s)

    # ------------------------------------------------------------ control flow
    def c_If(self, node: A.If, raw: bool) -> Fn:
        branches: list[tuple[Fn, Fn]] = []
        current: A.Node = node
        while isinstance(current, A.If):  # `else if` chains become one loop
            branches.append((self.compile(current.condition), self.compile(current.then, raw)))
            current = current.otherwise
        otherwise = self.compile(current, raw)
        if len(branches) == 1:
            ((cond, then),) = branches
            return lambda s: then(s) if cond(s) is True else otherwise(s)

        def if_chain(s: Scope) -> Any:
            for cond, then in branches:
                if cond(s) is True:
                    return then(s)
            return otherwise(s)

        return if_chain

    def _iteration(
        self, contexts: Sequence[A.IterationContext], body_node: A.Node, raw_body: bool
    ) -> tuple[list[tuple[str, Fn, Fn | None]], Fn]:
        compiled: list[tuple[str, Fn, Fn | None]] = []
        names: set[str] = set()
        for ctx in contexts:
            self.push_locals(names)
            try:
                end = self.compile(ctx.range_end) if ctx.range_end is not None else None
                compiled.append((ctx.name, self.compile(ctx.domain), end))
            finally:
                self.pop_locals(names)
            names.add(ctx.name)
        names.add("partial")
        self.push_locals(names)
        try:
            body = self.compile(body_node, raw_body)
        finally:
            self.pop_locals(names)
        return compiled, body

    def c_For(self, node: A.For) -> Fn:
        mark = len(self.names_used)
        contexts, body = self._iteration(node.contexts, node.body, raw_body=True)
        last = len(contexts) - 1
        # `partial` is the results so far; a copy is only needed when it is read
        uses_partial = "partial" in self.names_used[mark:]

        def run(s: Scope, k: int, results: list[Any]) -> bool:
            name, domain_fn, end_fn = contexts[k]
            items = _domain(s, domain_fn, end_fn)
            if items is None:
                return False
            state = s[2]
            for x in items:
                # the budget: read the clock (and the result size) every so many iterations
                state[0] += 1
                if state[0] > _CLOCK_MASK:
                    state[0] = 0
                    check_clock(state)
                    if len(results) > MAX_ITEMS:
                        check_size(results)
                frame = [
                    {name: cv(x), "partial": list(results) if uses_partial else results},
                    s,
                    state,
                    MISSING,
                ]
                if k == last:
                    results.append(body(frame))
                elif not run(frame, k + 1, results):
                    return False
            return True

        def for_(s: Scope) -> Any:
            results: list[Any] = []
            ok = run(s, 0, results)
            return check_size(results) if ok else None

        return for_

    def c_Quantified(self, node: A.Quantified) -> Fn:
        contexts, cond = self._iteration(node.contexts, node.condition, raw_body=False)
        last = len(contexts) - 1
        every = node.every

        # `some` is decided by a true, `every` by a false; otherwise any non-boolean
        # result makes the answer null (feel-scala's three-valued fold)
        decisive = not every

        def run(s: Scope, k: int) -> bool | None:
            name, domain_fn, end_fn = contexts[k]
            items = _domain(s, domain_fn, end_fn)
            if items is None:
                return None
            state = s[2]
            undecided = False
            for x in items:
                state[0] += 1
                if state[0] > _CLOCK_MASK:
                    state[0] = 0
                    check_clock(state)
                frame = [{name: cv(x)}, s, state, MISSING]
                r = cond(frame) if k == last else run(frame, k + 1)
                if r is decisive:
                    return decisive
                if r is not every:
                    undecided = True
            return None if undecided else every

        return lambda s: run(s, 0)

    def c_FunctionDef(self, node: A.FunctionDef) -> Fn:
        params = node.params
        self.functions += 1
        self.push_locals(params)
        try:
            body = self.compile(node.body)
        finally:
            self.pop_locals(params)
        declared = [Param(p) for p in params]
        arity = len(params)

        def define(s: Scope) -> FeelFunction:
            state = s[2]

            def call(args: Sequence[Any]) -> Any:
                if len(args) != arity:
                    raise FeelFunctionError(f"expected {arity} arguments but got {len(args)}")
                count_steps(s, _CALL_STEPS)
                return body([dict(zip(params, args, strict=True)), s, state, MISSING])

            return FeelFunction("anonymous", declared, lambda *args: call(args), call)

        return define

    # ------------------------------------------------------------ structures
    def c_ListLit(self, node: A.ListLit) -> Fn:
        items = [self.compile(i, raw=True) for i in node.items]
        if not items:
            return lambda s: []
        if len(items) == 1:
            only = items[0]
            return lambda s: [only(s)]
        return lambda s: [f(s) for f in items]

    def c_ContextLit(self, node: A.ContextLit) -> Fn:
        keys = {k for k, _ in node.entries}
        mark = len(self.names_used)
        # every key is in scope: functions may call entries defined after them
        self.push_locals(keys)
        try:
            entries = [(key, self.compile(value, raw=True)) for key, value in node.entries]
        finally:
            self.pop_locals(keys)

        self_referencing = self.dynamic or not keys.isdisjoint(self.names_used[mark:])
        if not self_referencing:
            # no entry reads an earlier one: no scope frame needed
            if len(entries) == 1:
                ((k0, f0),) = entries
                return lambda s: {k0: f0(s)}
            if len(entries) == 2:
                (k0, f0), (k1, f1) = entries
                return lambda s: {k0: f0(s), k1: f1(s)}
            if len(entries) == 3:
                (k0, f0), (k1, f1), (k2, f2) = entries
                return lambda s: {k0: f0(s), k1: f1(s), k2: f2(s)}

            def plain_context(s: Scope) -> Any:
                return {key: f(s) for key, f in entries}

            return plain_context

        def context(s: Scope) -> Any:
            d: dict[str, Any] = {}
            frame = [d, s, s[2], MISSING]
            for key, f in entries:
                d[key] = f(frame)
            return d

        return context

    def c_RangeLit(self, node: A.RangeLit) -> Fn:
        start = self.compile(node.start) if node.start is not None else None
        end = self.compile(node.end) if node.end is not None else None
        si, ei = node.start_included, node.end_included

        def range_(s: Scope) -> Any:
            lo = start(s) if start is not None else None
            hi = end(s) if end is not None else None
            if lo is not None and hi is not None and compare(lo, hi, s) is None:
                return None
            return Range(lo, si, hi, ei)

        return range_


_RAW_AWARE: frozenset[type] = frozenset({A.Name, A.Path, A.If})


def _flatten(node: A.Or | A.And | A.Arith) -> tuple[A.Node, list[tuple[str, A.Node]]]:
    """A flat chain as its first operand and its (operator, operand) links, in order."""
    links: list[tuple[str, A.Node]] = []
    current: A.Node = node
    while True:
        assert isinstance(current, A.Or | A.And | A.Arith)
        links.append((current.op if isinstance(current, A.Arith) else "", current.right))
        nxt = A.chain_link(current)
        if nxt is None:
            break
        current = nxt
    links.reverse()
    return current.left, links


def _arith2(op: str, left: Fn, right: Fn) -> Fn:
    """A single binary arithmetic operation, with the common cases inline."""
    if op == "+":

        def plus(s: Scope) -> Any:
            a = left(s)
            b = right(s)
            t = type(a)
            if t is type(b):
                if t is str:
                    r = a + b
                    return r if len(r) <= MAX_TEXT else check_size(r)
                if t is Decimal:
                    try:
                        return _ADD(a, b)
                    except ArithmeticError:
                        pass
            return arith("+", a, b, s)

        return plus
    fast_op = {"-": _SUB, "*": _MUL}.get(op)
    if fast_op is not None:
        decimal_op = fast_op

        def numeric(s: Scope) -> Any:
            a = left(s)
            b = right(s)
            if type(a) is Decimal and type(b) is Decimal:
                try:
                    return decimal_op(a, b)
                except ArithmeticError:
                    pass
            return arith(op, a, b, s)

        return numeric
    return lambda s: arith(op, left(s), right(s), s)


def _plus_step(a: Any, b: Any, s: Scope) -> Any:
    t = type(a)
    if t is type(b):
        if t is str:
            r = a + b
            return r if len(r) <= MAX_TEXT else check_size(r)
        if t is Decimal:
            try:
                return _ADD(a, b)
            except ArithmeticError:
                pass
    return arith("+", a, b, s)


def _decimal_step(op: str, decimal_op: Callable[[Decimal, Decimal], Decimal]) -> Step:
    def step(a: Any, b: Any, s: Scope) -> Any:
        if type(a) is Decimal and type(b) is Decimal:
            try:
                return decimal_op(a, b)
            except ArithmeticError:
                pass
        return arith(op, a, b, s)

    return step


def _general_step(op: str) -> Step:
    return lambda a, b, s: arith(op, a, b, s)


Step = Callable[[Any, Any, Scope], Any]
#: One step of a flat arithmetic chain, same results as :func:`_arith2`.
_ARITH_STEPS: dict[str, Step] = {
    "+": _plus_step,
    "-": _decimal_step("-", _SUB),
    "*": _decimal_step("*", _MUL),
    "/": _general_step("/"),
    "**": _general_step("**"),
}


#: Steps a user-defined function call counts for (a call costs far more than an iteration).
_CALL_STEPS = 4


def _item_lookup(raw: bool) -> Fn:
    def item(s: Scope) -> Any:
        # a context entry named `item` wins over the filter element itself
        v = s[0].get("item", MISSING)
        if v is MISSING:
            v = s[3]
        if v is MISSING:
            v = lookup_item(s)
            if v is MISSING:
                warn(s, "No variable found with name 'item'")
                return None
        return v if raw or type(v) in NATIVE else cv(v)

    return item


def _matches(value: Any, test: Any, scope: Scope) -> Any:
    """A unary test given as a value (feel-scala's unary-test expression).

    ``true`` always matches and ``false`` only matches ``false`` (the test was a
    condition), a list matches when it holds the value (or equals it), a range when it
    includes the value; otherwise the test is the value itself: equal matches, unequal
    does not, values that cannot be compared give null.
    """
    if test is True:
        return True
    t = type(test)
    if t is Range:
        return in_range(value, test, scope)
    if t is list:
        for item in test:
            item = cv(item)
            if type(item) is Range:
                if in_range(value, item, scope) is True:
                    return True
            elif _same(value, item):
                return True
        # the list as a whole: [1, 2] in [1, 2]
        return type(value) is list and _same(value, test)
    if test is False:
        return value is False
    return equal(value, test, scope)


def _same(a: Any, b: Any) -> bool:
    """Equality for membership: values of different types are simply not the same."""
    ta = type(a)
    if ta is type(b) and (ta is str or ta is Decimal or ta is bool):
        return bool(a == b)
    if a is None or b is None:
        return a is None and b is None
    return semantics.feel_equal(deep(a), deep(b)) is True


def _as_list(value: Any, scope: Scope) -> list[Any] | None:
    """The list to filter, or None (with a warning) for any other value, as feel-scala."""
    if value is None:
        return None
    converted = cv(value)
    if type(converted) is list:
        return converted
    warn(scope, f"Expected a list to filter but found a {semantics.type_name(converted)}")
    return None


def _index(value: Any, index: Decimal, scope: Scope) -> Any:
    if type(value) is not list:
        value = _as_list(value, scope)
        if value is None:
            return None
    if index != index.to_integral_value():
        warn(scope, f"Index {index} is not an integer")
        return None
    i = int(index)
    n = len(value)
    if 1 <= i <= n:
        return cv(value[i - 1])
    if -n <= i <= -1:
        return cv(value[n + i])
    warn(scope, f"Index {i} out of range for a list of {n} items")
    return None


def _domain(scope: Scope, domain_fn: Fn, end_fn: Fn | None) -> Iterable[Any] | None:
    """What ``x in ...`` iterates over: a list, or the numbers of ``a..b`` (produced lazily,
    so a long range costs time, which the budget bounds, but no memory).

    Anything else is null, as in feel-scala ("Expected list but found ...").
    """
    start = domain_fn(scope)
    if end_fn is not None:
        return _expand(start, end_fn(scope), scope)
    if type(start) is list:
        return start
    converted = cv(start)
    if type(converted) is list:
        return converted
    warn(scope, f"Expected a list to iterate over but found a {semantics.type_name(converted)}")
    return None


def _expand(start: Any, end: Any, scope: Scope) -> Iterable[Decimal] | None:
    if (
        type(start) is not Decimal
        or type(end) is not Decimal
        or start != start.to_integral_value()
        or end != end.to_integral_value()
    ):
        warn(scope, "A range to iterate over needs integer bounds")
        return None
    lo, hi = int(start), int(end)
    step = 1 if hi >= lo else -1
    return map(Decimal, range(lo, hi + step, step))


def _pick_positional(overloads: Sequence[FeelFunction], n: int) -> FeelFunction | None:
    for fn in overloads:
        required = sum(1 for p in fn.params if not p.optional and not p.variadic)
        variadic = any(p.variadic for p in fn.params)
        total = len(fn.params)
        if n == total or (required <= n <= total) or (variadic and n >= total - 1):
            return fn
    return None


def invoke_named(
    overloads: Sequence[FeelFunction], label: str, named: dict[str, Any], scope: Scope
) -> Any:
    known = [fn for fn in overloads if set(named) <= {p.name for p in fn.params}]
    if not known:
        warn(scope, f"No function found with name '{label}' and parameters {sorted(named)}")
        return None
    # an overload that is given all its required parameters; else, as in feel-scala, the
    # first one that knows every given name, with the parameters not given set to null
    complete = [fn for fn in known if all(_optional(p) or p.name in named for p in fn.params)]
    fn = complete[0] if complete else known[0]
    last = max(
        (i for i, p in enumerate(fn.params) if p.name in named or not _optional(p)), default=-1
    )
    values: list[Any] = []
    for p in fn.params[: last + 1]:
        value = named.get(p.name)
        if p.variadic and type(value) is list:
            values.extend(value)
        else:
            values.append(value)
    try:
        return fn.call(values)
    except EvaluationAborted:
        raise
    except Exception as error:
        return call_failed(scope, label, error)


def _optional(param: Param) -> bool:
    return param.optional or param.variadic
