"""Moved to :mod:`tests.helpers.bpmn`; kept so that test modules written before the move
still import. New tests import from tests.helpers."""

from tests.helpers.bpmn import HEADER, boundary_process, catch_process, polling_properties

__all__ = ["HEADER", "boundary_process", "catch_process", "polling_properties"]
