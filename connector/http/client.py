"""Execute bound requests over one pooled ``requests.Session``.

One :class:`HttpClient` per worker: connections are reused across polls, proxies come
from the standard environment variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``),
TLS is verified (optionally against a CA bundle), and OAuth tokens are cached inside.
:meth:`HttpClient.execute` is synchronous and thread-safe; the worker calls it from a
thread pool.

The environment (proxy variables, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, ``.netrc``) is
read once per client and origin (scheme, user info, host, port), the first time a request
goes there, not on every poll: re-reading it costs more CPU than the rest of a poll. It is
assumed not to change while the worker runs; a changed environment needs a restart (or a
new client).
"""

from __future__ import annotations

import http.cookiejar
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import requests.adapters
import requests.auth
import requests.utils
import urllib3.exceptions

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
#: A request's total wall-clock time is its connect plus read timeout, and never more than
#: this: read timeouts bound each wait for bytes, so a trickling body would never end.
DEFAULT_MAX_REQUEST_SECONDS = 60.0
#: Distinct origins remembered; past this the cache starts over (URLs come from process
#: variables, so the set of hosts is not bounded by the deployment).
_MAX_ORIGINS = 1024


class _NoNetrc(requests.auth.AuthBase):
    """Stands in for "no .netrc entry": a truthy auth keeps requests from searching again."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_NETRC = _NoNetrc()


@dataclass(frozen=True, slots=True)
class _Origin:
    """What the environment says about one origin, as requests itself would compute it."""

    netrc: tuple[str, str] | _NoNetrc
    settings: Mapping[str, Any]


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
        max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.max_request_seconds = max_request_seconds
        self.verify: bool | str = ca_bundle if (ca_bundle and verify_tls) else verify_tls
        self.tokens = token_provider or TokenProvider(margin_seconds=token_margin_seconds)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(_NoCookies())
        session.headers["User-Agent"] = user_agent or f"http-polling-connector/{__version__}"
        self.session = session
        # Keyed by (skip_encoding, origin as written in the URL); see the module docstring.
        self._origins: dict[tuple[bool, str], _Origin] = {}

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
        safe = redact_url(req.url)
        deadline = time.monotonic() + self._total_seconds(req)
        response = self._send(req, safe)
        if response.status_code == 401 and isinstance(
            req.auth, OAuthClientCredentials | OAuthRefreshToken
        ):
            response.close()
            self.tokens.invalidate(req.auth)
            response = self._send(req, safe)
        return self._read(req, response, safe, deadline)

    # -- internals --------------------------------------------------------------------

    def _total_seconds(self, req: BoundRequest) -> float:
        timeouts = [t for t in (req.connect_timeout, req.read_timeout) if t is not None]
        total = sum(timeouts) if len(timeouts) == 2 else self.max_request_seconds
        return min(total, self.max_request_seconds)

    def _timeout(self, req: BoundRequest) -> tuple[float | None, float | None]:
        return (req.connect_timeout, req.read_timeout)

    def _send(self, req: BoundRequest, safe: str) -> requests.Response:
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
        key = (req.skip_encoding, _origin_of(req.url))
        known = self._origins.get(key)
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    method=req.method,
                    url=req.url,
                    headers=headers,
                    params=None if req.skip_encoding else query,
                    data=req.body,
                    # A known origin's .netrc answer; None lets requests look it up.
                    auth=None if known is None else known.netrc,
                )
            )
            if req.skip_encoding:
                # Sent exactly as configured: requests would re-quote the URL otherwise.
                prepared.url = _append_raw_query(req.url, query)
            if known is None:
                known = self._remember(key, req.url, prepared.url)
            settings = known.settings
            return self.session.send(
                prepared,
                timeout=self._timeout(req),
                allow_redirects=req.follow_redirects,
                proxies=dict(settings["proxies"]),
                stream=settings["stream"],
                verify=settings["verify"],
                cert=settings["cert"],
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

    def _remember(self, key: tuple[bool, str], url: str, prepared_url: str | None) -> _Origin:
        """Ask requests about the environment for this origin, once (see module docstring)."""
        netrc = requests.utils.get_netrc_auth(url) if self.session.trust_env else None
        # Proxies (HTTP(S)_PROXY, NO_PROXY) and CA settings from the environment. Only the
        # scheme, host and port of the URL matter to requests here.
        settings = self.session.merge_environment_settings(
            prepared_url, {}, True, self.verify, None
        )
        known = _Origin(netrc=netrc or _NO_NETRC, settings=settings)
        if len(self._origins) >= _MAX_ORIGINS:
            self._origins.clear()
        self._origins[key] = known
        return known

    def _read(
        self,
        req: BoundRequest,
        response: requests.Response,
        safe: str,
        deadline: float = float("inf"),
    ) -> HttpResponse:
        try:
            raw = b"" if req.method == "HEAD" else self._read_capped(response, safe, deadline)
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

    def _read_capped(
        self, response: requests.Response, safe: str, deadline: float = float("inf")
    ) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, safe)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in _chunks(response):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, safe)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise HttpTransportError(
                        "deadline", "the response took longer than its total timeout", url=safe
                    )
        except (requests.exceptions.ConnectionError, urllib3.exceptions.ReadTimeoutError):
            raise HttpTransportError("read_timeout", "reading the body failed", url=safe) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            # read1 raises urllib3's own errors (iter_content wraps them in requests' ones).
            raise HttpTransportError("protocol", type(exc).__name__, url=safe) from None
        return b"".join(chunks)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: ``read1`` returns whatever one socket read brings, where
    ``iter_content`` would wait for a full chunk (a trickle of bytes never fills one)."""
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from response.iter_content(_CHUNK)
        return
    while chunk := read1(_CHUNK, decode_content=True):
        yield chunk


def _too_large(limit: int, safe: str) -> HttpTransportError:
    return HttpTransportError("too_large", f"response larger than {limit} bytes", url=safe)


def _origin_of(url: str) -> str:
    """``url`` up to the end of its authority, as written (cheap; no parsing or quoting).

    The authority ends at the first ``/``, ``?`` or ``#`` after ``://``, as for urllib and
    urllib3, so URLs with the same prefix have the same scheme, host and port.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter, 0, end)
        if found != -1:
            end = found
    return url[: len(scheme) + 3 + end]


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
