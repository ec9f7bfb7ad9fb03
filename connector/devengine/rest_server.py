"""The REST v2 API of the development engine over HTTP (stdlib server, one thread per
connection, optional TLS)."""

from __future__ import annotations

import io
import json
import logging
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .auth import AuthConfig as AuthConfig
from .rest import Request, Response, RestApi
from .rest_query import MAX_BODY_BYTES, ApiError
from .tls import TlsServerMixin

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- HTTP transport


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "devengine-rest"
    # TCP_NODELAY on every accepted connection (set by StreamRequestHandler.setup): without it
    # a write that follows an unacknowledged one on a keep-alive connection waits for the
    # client's delayed ACK, ~40 ms per request on Linux.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        auth = self.server.auth
        try:
            body = self._read_body()
        except ApiError as error:
            self._send(RestApi._problem(error, path))
            self.close_connection = True
            return
        if not auth.accepts(self.headers.get("Authorization")):
            denied = ApiError(401, "Missing or invalid credentials", title="Unauthorized")
            self._send(RestApi._problem(denied, path), {"WWW-Authenticate": auth.scheme})
            return
        request = Request(
            method,
            path,
            parse_qs(url.query),
            {},
            accept=self.headers.get("Accept"),
            content_type=self.headers.get("Content-Type"),
        )
        self._send(self.server.api.handle(request, raw_body=body))

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise ApiError(413, f"Request body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _send(self, response: Response, headers: Mapping[str, str] | None = None) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, str) and not response.content_type.endswith("json"):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode()
        # Status line, headers and body leave in one write (one segment for small answers);
        # the header methods write to ``wfile``, so they are pointed at a buffer meanwhile.
        socket_file, buffer = self.wfile, io.BytesIO()
        self.wfile = buffer
        try:
            self.send_response(response.status)
            if payload:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            self.wfile = socket_file
        self.wfile.write(buffer.getvalue())

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("REST %s - %s", self.address_string(), format % args)


class _HttpServer(TlsServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: RestApi,
        auth: AuthConfig,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.api = api
        self.auth = auth
        self.tls = tls
        super().__init__(address, _Handler)


class RestServer:
    """The REST v2 server on its own thread; ``port=0`` binds a free port."""

    def __init__(
        self,
        api: RestApi,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth: AuthConfig | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _HttpServer((host, port), api, auth or AuthConfig(), tls)
        self.api = api
        self._thread: threading.Thread | None = None
        self.host = host
        self.scheme = "https" if tls is not None else "http"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="devengine-rest",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and release the port (in-flight requests may finish)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
