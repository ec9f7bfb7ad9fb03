"""Moved to :mod:`tests.helpers.bpmn` and :mod:`tests.helpers.engine`; kept so that test
modules written before the move still import. New tests import from tests.helpers."""

from tests.helpers.bpmn import (
    END,
    START,
    boundary,
    catch_message,
    catch_timer,
    chain,
    definitions,
    flow,
    io_mapping,
    message,
    service_task,
)
from tests.helpers.engine import active_elements, new_engine, root_variables, state_of

__all__ = [
    "END",
    "START",
    "active_elements",
    "boundary",
    "catch_message",
    "catch_timer",
    "chain",
    "definitions",
    "flow",
    "io_mapping",
    "message",
    "new_engine",
    "root_variables",
    "service_task",
    "state_of",
]
