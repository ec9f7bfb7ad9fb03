"""Whether the cluster's two APIs (REST and the gRPC gateway) are up, and why not.

Discovery and variable reads report the REST side, publishes and probes the gRPC side.
Each change is logged once: up, down, or down for a different cause; never once per retry,
so an outage of an hour is two log lines, not thousands. The state feeds readiness, the
``cluster_up`` gauge and the ``/inbound`` document.
"""

from __future__ import annotations

import asyncio
import logging

from pyzeebe import ZeebeClient

from connector.config import Settings
from connector.connection_errors import Cause, explain_rest
from connector.discovery import ClusterError
from connector.observability import log_event
from connector.zeebe_client import grpc_cause

log = logging.getLogger("connector.worker")
#: How long a gateway probe may take before it counts as down (seconds).
PROBE_TIMEOUT = 5.0


class ClusterHealth:
    """The last known state of each API (None: not known yet) and its cause when down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.rest_up: bool | None = None
        self.grpc_up: bool | None = None
        self._rest_why: str | None = None
        self._grpc_why: str | None = None
        self.grpc_error: str | None = None
        self.last_discovery_error: str | None = None

    def rest_cause(self, exc: BaseException) -> Cause:
        """Why a REST call failed, in the operator's words."""
        if isinstance(exc, ClusterError):
            return explain_rest(str(exc), exc.status, self._settings.auth_method)
        return Cause("unexpected error", repr(exc)[:200])

    def grpc_cause(self, exc: BaseException) -> Cause:
        """Why a gRPC call failed, in the operator's words."""
        return grpc_cause(exc, self._settings.auth_method)

    def set_rest(self, up: bool, cause: Cause | None = None) -> None:
        """Log each change once: up/down, and a different cause while down (never per retry)."""
        self.last_discovery_error = None if cause is None else str(cause)
        if up == self.rest_up and (up or cause is None or cause.cause == self._rest_why):
            return
        previous = self.rest_up
        self.rest_up = up
        self._rest_why = None if cause is None else cause.cause
        fields = {} if cause is None else {"reason": cause.cause, "detail": cause.detail}
        if up:
            log_event(log, "cluster REST API available", url=self._settings.rest_base)
        elif previous is None:
            log_event(log, "cluster REST API unavailable, retrying", logging.WARNING, **fields)
        elif previous is False:
            log_event(log, "cluster REST API failing differently", logging.WARNING, **fields)
        else:
            log_event(
                log,
                "cluster REST API unavailable, keeping pollers and retrying",
                logging.WARNING,
                **fields,
            )

    def set_grpc(self, up: bool, cause: Cause | None = None) -> None:
        """Like :meth:`set_rest`, for the gRPC gateway."""
        if up == self.grpc_up and (up or cause is None or cause.cause == self._grpc_why):
            return
        previous = self.grpc_up
        self.grpc_up = up
        self._grpc_why = None if cause is None else cause.cause
        self.grpc_error = None if cause is None else str(cause)
        fields = {} if cause is None else {"reason": cause.cause, "detail": cause.detail}
        if up:
            log_event(log, "cluster gRPC gateway available", address=self._settings.grpc_address)
        elif previous is False:
            log_event(log, "cluster gRPC gateway failing differently", logging.WARNING, **fields)
        else:
            log_event(log, "cluster gRPC gateway unavailable", logging.WARNING, **fields)

    async def check_grpc(self, zeebe: ZeebeClient) -> None:
        """Probe the gateway (until it is known to be up: publishes report later outages)."""
        try:
            await asyncio.wait_for(zeebe.topology(), timeout=PROBE_TIMEOUT)
        except Exception as exc:
            self.set_grpc(False, self.grpc_cause(exc))
        else:
            self.set_grpc(True)
