"""Execute bound requests over one pooled ``requests.Session``.

One :class:`HttpClient` per worker: connections are reused across polls, proxies come
from the standard environment variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``),
TLS is verified (optionally against a CA bundle), and OAuth tokens are cached inside.
:meth:`HttpClient.execute` is synchronous and thread-safe; the worker calls it from a
thread pool.
"""

from __future__ import annotations

import http.cookiejar
import logging
from typing import TYPE_CHECKING

import requests
import requests.adapters

from connector import __version__
from connector.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuthClientCredentials,
    OAuthRefreshToken,
)
from connector.http.oauth import TokenProvider
from connector.http.response import (
    HttpResponse,
    HttpStatusError,
    HttpTransportError,
    collect_headers,
    excerpt,
    parse_body,
    parse_retry_after,
    redact_url,
)

if TYPE_CHECKING:
    from connector.binding import BoundRequest

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Polls of different instances share the session; they must not share cookies."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class HttpClient:
    """Runs :class:`~connector.binding.BoundRequest` objects; see the module docstring.

    ``max_response_bytes`` caps the (decoded) body; a larger response fails the poll with
    :class:`HttpTransportError` ``kind="too_large"``. ``ca_bundle`` is a PEM file used
    instead of the system trust store; ``verify_tls=False`` turns verification off.
    """

    def __init__(
        self,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ca_bundle: str | None = None,
        *,
        verify_tls: bool = True,
        pool_size: int = 32,
        token_margin_seconds: float = 10.0,
        token_provider: TokenProvider | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.verify: bool | str = ca_bundle if (ca_bundle and verify_tls) else verify_tls
        self.tokens = token_provider or TokenProvider(margin_seconds=token_margin_seconds)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(_NoCookies())
        session.headers["User-Agent"] = user_agent or f"http-polling-connector/{__version__}"
        self.session = session

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, req: BoundRequest) -> HttpResponse:
        """Send ``req``; return the response or raise an :class:`HttpError` subclass.

        With OAuth, a 401 answer invalidates the cached token and the request is sent once
        more with a fresh token.
        """
        response = self._send(req)
        if response.status_code == 401 and isinstance(
            req.auth, OAuthClientCredentials | OAuthRefreshToken
        ):
            response.close()
            self.tokens.invalidate(req.auth)
            response = self._send(req)
        return self._read(req, response)

    # -- internals --------------------------------------------------------------------

    def _timeout(self, req: BoundRequest) -> tuple[float | None, float | None]:
        return (req.connect_timeout, req.read_timeout)

    def _send(self, req: BoundRequest) -> requests.Response:
        safe = redact_url(req.url)
        headers = dict(req.headers)
        query = list(req.query)
        auth = req.auth
        if isinstance(auth, BasicAuth):
            headers["Authorization"] = auth.header()
        elif isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {auth.token}"
        elif isinstance(auth, ApiKeyAuth):
            if auth.location == "query":
                query.append((auth.name, auth.value))
            else:
                headers[auth.name] = auth.value
        elif isinstance(auth, OAuthClientCredentials | OAuthRefreshToken):
            token = self.tokens.token(
                auth, self.session, timeout=self._timeout(req), verify=self.verify
            )
            headers["Authorization"] = f"Bearer {token}"
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    method=req.method,
                    url=req.url,
                    headers=headers,
                    params=None if req.skip_encoding else query,
                    data=req.body,
                )
            )
            if req.skip_encoding:
                # Sent exactly as configured: requests would re-quote the URL otherwise.
                prepared.url = _append_raw_query(req.url, query)
            # Proxies (HTTP(S)_PROXY, NO_PROXY) and CA settings from the environment.
            settings = self.session.merge_environment_settings(
                prepared.url, {}, True, self.verify, None
            )
            return self.session.send(
                prepared,
                timeout=self._timeout(req),
                allow_redirects=req.follow_redirects,
                **settings,
            )
        except requests.exceptions.ConnectTimeout:
            raise HttpTransportError("connect_timeout", "connect timed out", url=safe) from None
        except requests.exceptions.ReadTimeout:
            raise HttpTransportError("read_timeout", "read timed out", url=safe) from None
        except requests.exceptions.SSLError:
            raise HttpTransportError("tls", "TLS handshake failed", url=safe) from None
        except requests.exceptions.TooManyRedirects:
            raise HttpTransportError("protocol", "too many redirects", url=safe) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError):
            raise HttpTransportError("invalid_url", "invalid URL", url=safe) from None
        except requests.exceptions.ConnectionError as exc:
            # str(exc) would repeat the full URL, query string included.
            raise HttpTransportError(
                "connection", f"connection failed ({_cause(exc)})", url=safe
            ) from None
        except requests.RequestException as exc:
            raise HttpTransportError("protocol", type(exc).__name__, url=safe) from None

    def _read(self, req: BoundRequest, response: requests.Response) -> HttpResponse:
        safe = redact_url(req.url)
        try:
            raw = b"" if req.method == "HEAD" else self._read_capped(response, safe)
        finally:
            response.close()
        content_type = response.headers.get("Content-Type")
        reason = response.reason or ""
        if response.status_code >= 400:
            raise HttpStatusError(
                response.status_code,
                reason,
                body_excerpt=excerpt(raw, content_type),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                url=safe,
            )
        return HttpResponse(
            status=response.status_code,
            reason=reason,
            headers=collect_headers(response.raw.headers.items()),
            body=parse_body(raw, content_type) if req.method != "HEAD" else None,
        )

    def _read_capped(self, response: requests.Response, safe: str) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        too_large = HttpTransportError("too_large", f"response larger than {limit} bytes", url=safe)
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except requests.exceptions.ConnectionError:
            raise HttpTransportError("read_timeout", "reading the body failed", url=safe) from None
        except requests.RequestException as exc:
            raise HttpTransportError("protocol", type(exc).__name__, url=safe) from None
        return b"".join(chunks)


def _append_raw_query(url: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return url
    joined = "&".join(f"{k}={v}" for k, v in query)
    return f"{url}{'&' if '?' in url else '?'}{joined}"


def _cause(exc: BaseException) -> str:
    """The innermost cause's class name: enough to diagnose, nothing of the URL."""
    seen: BaseException = exc
    for _ in range(10):
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if seen is exc and isinstance(reason, BaseException):
        seen = reason
    return type(seen).__name__
