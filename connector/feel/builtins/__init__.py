"""The FEEL built-in function table.

``BUILTINS`` maps a function name (with spaces, e.g. ``"string length"``) to
its overloads, in declaration order. Calling convention for the interpreter:

* an implementation receives internal FEEL values positionally, in the order
  of its ``params``; it returns a FEEL value or raises ``FeelFunctionError``;
* a variadic parameter (``Param(variadic=True)``, always the last) receives
  the remaining arguments spread: ``min(1, 2, 3)`` calls ``impl(1, 2, 3)``;
  ``min([1, 2, 3])`` and ``min(list: [1, 2, 3])`` call ``impl([1, 2, 3])``;
  the list-or-varargs functions accept both forms;
* overloads of one name with the same arity and different parameter names
  (``before(point, range)`` / ``before(range1, range2)``...) share one
  implementation that dispatches on the argument types, so any of them may
  be chosen for a positional call.

``set_clock`` pins the clock read by ``now()`` and ``today()``.
"""

from __future__ import annotations

from connector.feel.builtins import (
    boolean,
    context,
    conversion,
    misc,
    numeric,
    string,
    temporal,
)
from connector.feel.builtins import list as list_functions
from connector.feel.builtins import range as range_functions
from connector.feel.builtins._util import Table
from connector.feel.builtins.conversion import feel_string
from connector.feel.builtins.temporal import set_clock, system_clock

__all__ = ["BUILTINS", "feel_string", "set_clock", "system_clock"]

# Note: importing the submodules ``list`` and ``range`` binds those names in this
# package's namespace, so the Python builtins of the same name are not used here.


def _build() -> Table:
    table: Table = {}
    for module in (
        conversion,
        boolean,
        string,
        list_functions,
        numeric,
        context,
        range_functions,
        temporal,
        misc,
    ):
        for name, overloads in module.BUILTINS.items():
            table.setdefault(name, []).extend(overloads)
    return table


BUILTINS: Table = _build()
