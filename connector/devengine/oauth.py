"""A small OAuth 2.0 client-credentials token endpoint for the development engine.

It plays Identity/Keycloak in front of a real gateway: ``POST /oauth/token`` with
``grant_type=client_credentials`` and the configured client id and secret (form body or
HTTP Basic) returns an opaque bearer token that lives ``token_lifetime_s`` seconds. Both
APIs of the engine then accept exactly the unexpired tokens issued here whose audience is
the configured one (a token for another audience is rejected there, as a real gateway
rejects it: the endpoint itself hands out tokens for any audience, like Keycloak).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from base64 import b64decode
from binascii import Error as BinasciiError
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from .tls import TlsServerMixin

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class OAuthServerConfig:
    """The one client the token endpoint knows, and what the APIs demand of its tokens."""

    client_id: str
    client_secret: str = field(repr=False)
    audience: str | None = None  # None: the APIs accept a token of any audience
    token_lifetime_s: float = 300.0


@dataclass(slots=True)
class _Issued:
    audience: str | None
    expires_at: float


class TokenIssuer:
    """Issues and checks opaque tokens; thread-safe."""

    def __init__(
        self, config: OAuthServerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Issued] = {}
        self.issued = 0
        self.rejected_requests = 0

    def token_response(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body answering a token request."""
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = _basic(authorization)
        if basic is not None:
            client_id, client_secret = basic
        if not self._client_ok(client_id, client_secret):
            with self._lock:
                self.rejected_requests += 1
            return 401, {"error": "invalid_client", "error_description": "bad client credentials"}
        audience = form.get("audience") or _audience_of_scope(form.get("scope"))
        token = secrets.token_urlsafe(24)
        lifetime = self.config.token_lifetime_s
        now = self._clock()
        with self._lock:
            # Forget expired tokens so a long run does not grow the table.
            for key in [k for k, v in self._tokens.items() if v.expires_at <= now]:
                del self._tokens[key]
            self._tokens[token] = _Issued(audience, now + lifetime)
            self.issued += 1
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(lifetime) if lifetime == int(lifetime) else lifetime,
        }
        return 200, body

    def valid(self, token: str) -> bool:
        """Issued here, unexpired, and for the configured audience (if one is set)."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or self._clock() >= issued.expires_at:
            return False
        wanted = self.config.audience
        return wanted is None or issued.audience == wanted

    def revoke_all(self) -> None:
        """Forget every issued token (as if the identity provider rotated its keys)."""
        with self._lock:
            self._tokens.clear()

    def _client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        if client_id is None or client_secret is None:
            return False
        id_ok = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        return id_ok and secret_ok


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = b64decode(value.strip(), validate=True).decode()
    except (BinasciiError, ValueError):
        return None
    user, _, password = decoded.partition(":")
    return unquote(user), unquote(password)


def _audience_of_scope(scope: str | None) -> str | None:
    """Entra ID style: scope ``<audience>/.default`` names the audience."""
    if not scope:
        return None
    first = scope.split()[0]
    return first[: -len("/.default")] if first.endswith("/.default") else first


class _TokenHandler(BaseHTTPRequestHandler):
    server: TokenServer
    protocol_version = "HTTP/1.1"
    server_version = "devengine-oauth"

    def do_POST(self) -> None:
        if self.path.split("?")[0].rstrip("/") != TOKEN_PATH:
            self._answer(404, {"error": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            self._answer(400, {"error": "invalid_request"})
            self.close_connection = True
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, body = self.server.issuer.token_response(form, self.headers.get("Authorization"))
        self._answer(status, body)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("token endpoint %s - %s", self.address_string(), format % args)


class TokenServer(TlsServerMixin, ThreadingHTTPServer):
    """The token endpoint on its own port (``port=0`` = a free one), optionally TLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, issuer: TokenIssuer, host: str, port: int, tls: Any = None) -> None:
        self.issuer = issuer
        self.tls = tls
        super().__init__((host, port), _TokenHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="devengine-oauth",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
