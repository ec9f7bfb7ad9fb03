"""Moved to :mod:`tests.helpers.localserver`; kept so that test modules written before the
move still import. New tests import from tests.helpers."""

from tests.helpers.localserver import LocalServer, Reply, Request, local_server

__all__ = ["LocalServer", "Reply", "Request", "local_server"]
