"""The cluster's REST API: one JSON client with auth, a request counter and clear errors.

:class:`ClusterAuth` says how cluster calls authenticate (none, basic, or OAuth client
credentials through the worker's one token provider, :data:`connector.http.oauth.SHARED_PROVIDER`);
:class:`RestClient` sends JSON to one base URL with it. Every call is synchronous
(``requests``); the worker runs them in a thread.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from connector.connection_errors import describe_request_error, describe_token_error
from connector.errors import ConnectorError
from connector.http.auth import BasicAuth, OAuthClientCredentials
from connector.http.oauth import SHARED_PROVIDER, TokenProvider
from connector.http.response import OAuthError

JsonObject = dict[str, Any]
Timeout = float | tuple[float, float]  # seconds, or (connect, read)
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


# ---------------------------------------------------------------------------- errors


class ClusterError(ConnectorError):
    """A REST call to the cluster failed; ``transient`` means retrying may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


# ---------------------------------------------------------------------------- auth + client


@dataclass
class ClusterAuth:
    """How cluster calls authenticate: ``none``, ``basic`` or ``oidc`` (client credentials).

    OAuth tokens come from the worker's one :class:`~connector.http.oauth.TokenProvider`
    (shared with gRPC and the polled endpoints' OAuth): cached, refreshed before expiry,
    invalidated once on 401, and backed off while the token endpoint fails. ``session`` (if
    set) carries the TLS trust used for the token endpoint; else the caller's session is used.
    """

    method: str = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str | None = None
    audience: str | None = None
    scope: str | None = None
    session: requests.Session | None = field(default=None, repr=False)
    provider: TokenProvider = field(default=SHARED_PROVIDER, repr=False)

    def oauth(self) -> OAuthClientCredentials:
        # Camunda's clients send the credentials in the form body; Keycloak, Entra ID and
        # Auth0 all accept that.
        return OAuthClientCredentials(
            token_endpoint=self.token_url or "",
            client_id=self.client_id or "",
            client_secret=self.client_secret or "",
            audience=self.audience,
            scopes=self.scope,
            client_authentication="credentialsBody",
        )

    def headers(self, session: requests.Session, timeout: Timeout) -> dict[str, str]:
        if self.method == "oidc":
            return {"Authorization": "Bearer " + self.bearer(session, timeout)}
        header = self.cached_header()  # basic needs no I/O; none has no header
        return {} if header is None else {"Authorization": header}

    def cached_header(self) -> str | None:
        """The ``authorization`` value if it needs no I/O (basic, or a cached token)."""
        if self.method == "basic":
            return BasicAuth(self.username or "", self.password or "").header()
        if self.method == "oidc":
            token = self.provider.cached(self.oauth())
            return None if token is None else "Bearer " + token
        return None

    def bearer(self, session: requests.Session | None = None, timeout: Timeout = 10.0) -> str:
        """A valid access token (blocks on a cache miss); ClusterError naming the cause."""
        use = self.session or session
        if use is None:
            use = self.session = requests.Session()  # kept: one pool for later refreshes
        pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            verify = True if use.verify is None else use.verify
            return self.provider.token(self.oauth(), use, timeout=pair, verify=verify)
        except OAuthError as exc:
            client_fault = exc.status is not None and 400 <= exc.status < 500
            raise ClusterError(
                describe_token_error(exc.status, exc.error, str(exc)),
                status=exc.status,
                transient=not client_fault or exc.status == 429,
            ) from None

    def invalidate(self) -> None:
        if self.method == "oidc":
            self.provider.invalidate(self.oauth())

    def with_audience(self, audience: str) -> ClusterAuth:
        return dataclasses.replace(self, audience=audience)


class RestClient:
    """JSON over HTTP to one base URL, with auth, a request counter and clear errors."""

    def __init__(
        self,
        base_url: str,
        auth: ClusterAuth | None = None,
        *,
        timeout: Timeout = (5.0, 20.0),
        verify: bool | str = True,
        session: requests.Session | None = None,
        login_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth or ClusterAuth()
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        self.requests = 0
        self._count_lock = threading.Lock()
        # Operate's self-managed "basic" login: a session cookie from POST <login_path>.
        self._login_path = login_path if self.auth.method == "basic" else None
        self._logged_in = False
        self._login_lock = threading.Lock()

    def _login(self) -> None:
        with self._login_lock:
            if self._logged_in or self._login_path is None:
                return
            with self._count_lock:
                self.requests += 1
            params = {"username": self.auth.username or "", "password": self.auth.password or ""}
            try:
                reply = self.session.post(
                    self.base_url + self._login_path, params=params, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ClusterError(f"login: {type(exc).__name__}") from None
            if reply.status_code >= 300:
                raise ClusterError(
                    f"login answered {reply.status_code}",
                    status=reply.status_code,
                    transient=reply.status_code in TRANSIENT_STATUSES,
                )
            self._logged_in = True

    def close(self) -> None:
        self.session.close()

    def post(self, path: str, body: JsonObject) -> Any:
        reply = self._send("POST", path, json_body=body)
        return self._json(reply, path)

    def get_json(self, path: str) -> Any:
        return self._json(self._send("GET", path), path)

    def get_text(self, path: str, accept: str = "application/json") -> str | None:
        """Body text, or None for 204/404 (no such resource)."""
        reply = self._send("GET", path, allow_missing=True, accept=accept)
        if reply.status_code in (204, 404):
            return None
        if "charset" not in reply.headers.get("Content-Type", "").lower():
            # requests would read text/* without a charset as ISO-8859-1, turning "ü" in a
            # BPMN expression into "Ã¼"; the XML and JSON the cluster sends are UTF-8
            reply.encoding = "utf-8"
        return reply.text

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: JsonObject | None = None,
        allow_missing: bool = False,
        accept: str = "application/json",
    ) -> requests.Response:
        url = self.base_url + path
        for attempt in (1, 2):
            if self._login_path is not None:
                self._login()
                headers = {"Accept": accept}
            else:
                headers = {
                    "Accept": accept,
                    **self.auth.headers(self.session, self.timeout),
                }
            with self._count_lock:
                self.requests += 1
            try:
                reply = self.session.request(
                    method, url, json=json_body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ClusterError(f"{method} {path}: {describe_request_error(exc)}") from None
            if reply.status_code == 401 and attempt == 1 and self.auth.method == "oidc":
                self.auth.invalidate()  # the token may have been revoked: fetch a new one once
                continue
            if reply.status_code == 401 and attempt == 1 and self._login_path is not None:
                self._logged_in = False  # the session expired: log in again once
                continue
            if reply.status_code < 300 or (allow_missing and reply.status_code == 404):
                return reply
            raise ClusterError(
                f"{method} {path} answered {reply.status_code}: {_problem_detail(reply)}",
                status=reply.status_code,
                transient=reply.status_code in TRANSIENT_STATUSES,
            )
        raise AssertionError("unreachable")

    @staticmethod
    def _json(reply: requests.Response, path: str) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise ClusterError(f"{path}: answer is not JSON", status=reply.status_code) from None


def _problem_detail(reply: requests.Response) -> str:
    try:
        data = reply.json()
    except ValueError:
        return reply.text[:200]
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("message") or data.get("title") or "")[:200]
    return ""


def parse_release(version: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a version such as ``8.8.3`` or ``8.9.0-alpha1``; None if unreadable."""
    if not version:
        return None
    parts = version.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or "x")
    except (IndexError, ValueError):
        return None


def optional_int(value: Any) -> int | None:
    """A JSON key or number that may be absent (``None``)."""
    return None if value is None else int(value)
