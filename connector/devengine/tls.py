"""TLS for the development engine's HTTP servers (REST API and token endpoint).

The handshake runs in the connection's own thread (not in ``accept``), so a client that
speaks plaintext to a TLS port, or stalls, never blocks the server; a failed handshake is
logged at DEBUG and the connection dropped, like a real gateway does.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from typing import Any

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 10.0


def server_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """A server-side TLS context with the given PEM certificate (chain) and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


class TlsServerMixin:
    """For ``socketserver`` servers: wraps each accepted connection when ``tls`` is set."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)  # type: ignore[misc]
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            log.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        try:
            wrapped.settimeout(None)
            super().finish_request(wrapped, client_address)  # type: ignore[misc]
        finally:
            with contextlib.suppress(OSError):
                wrapped.shutdown(socket.SHUT_RDWR)
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping the connection is routine; no traceback on stderr.
        log.debug("connection from %s failed", client_address, exc_info=True)
