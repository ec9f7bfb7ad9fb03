"""Execute bound requests over one pooled ``requests.Session``.

One :class:`HttpClient` per worker: connections are reused across polls, proxies come
from the standard environment variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``),
TLS is verified (optionally against a CA bundle), and OAuth tokens are cached inside.
:meth:`HttpClient.execute` is synchronous and thread-safe; the worker calls it from a
thread pool.

The environment (proxy variables, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``/``SSL_CERT_FILE``)
is read once per client and origin (scheme, user info, host, port), the first time a request
goes there, not on every poll: re-reading it costs more CPU than the rest of a poll. It is
assumed not to change while the worker runs; a changed environment needs a restart (or a
new client). ``~/.netrc`` is never read: a request carries only the credentials its element
configures, never those of the machine the worker runs on.

Redirects (``followRedirects``) are followed here, not by requests, at most
:data:`MAX_REDIRECTS` hops: a redirect from https to http is refused, and a redirect to
another origin (scheme, host or port) drops the authentication and every header, query
parameter and body that holds a secret (see :func:`redirect_hop`). requests itself strips
only ``Authorization``.
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth
import requests.structures
import requests.utils
import urllib3
import urllib3.exceptions
from urllib3.util import Timeout

from connector import __version__
from connector.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuthClientCredentials,
    OAuthRefreshToken,
)
from connector.http.oauth import TokenProvider
from connector.http.request import BoundRequest
from connector.http.response import (
    HttpResponse,
    HttpStatusError,
    HttpTransportError,
    NonFiniteNumberError,
    excerpt,
    parse_body,
    parse_retry_after,
    redact_url,
)
from connector.http.transport import (
    Reply,
    deadline_error,
    past_deadline,
    render,
    request_line,
    send_kept,
    send_new,
    send_proxied,
    take,
    transport_error,
)
from connector.redaction import contains_secret

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
#: A request's total wall-clock time is its connect plus read timeout, and never more than
#: this: read timeouts bound each wait for bytes, so a trickling body would never end.
DEFAULT_MAX_REQUEST_SECONDS = 60.0
#: Distinct origins remembered; past this the cache starts over (URLs come from process
#: variables, so the set of hosts is not bounded by the deployment).
_MAX_ORIGINS = 1024
#: Redirect hops followed for one poll (requests' own default is 30).
MAX_REDIRECTS = 10
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
#: Never sent to another origin, whatever the element configured.
_CREDENTIAL_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie"))


class _NoNetrc(requests.auth.AuthBase):
    """Stands in for "no auth": a truthy auth keeps requests from reading ``~/.netrc``."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_NETRC = _NoNetrc()


class _Session(requests.Session):
    """A session that never attaches ``~/.netrc`` credentials (``trust_env`` would).

    Proxy and CA settings still come from the environment. This covers the OAuth token
    request too, which goes through the same session. Neither lets requests follow
    redirects (whose handling would read ``.netrc`` again).
    """

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if request.auth is None:
            request.auth = _NO_NETRC
        return super().prepare_request(request)


@dataclass(slots=True)
class _Origin:
    """What the environment says about one origin, as requests itself would compute it,
    and the urllib3 pool requests would pick for it (proxy, TLS and CA settings applied)."""

    settings: Mapping[str, Any]
    url: str  # a prepared URL of this origin: what requests picks the pool by
    pool: urllib3.HTTPConnectionPool | None = None


@dataclass(slots=True)
class _Wire:
    """A bound request as requests would put it on the wire, prepared once and then sent
    through the origin's urllib3 pool on every poll: no session merging, cookie jar, hooks,
    URL re-quoting or environment lookups per poll."""

    method: str
    target: str  # the request target: the path and query, or the absolute URL via a proxy
    headers: Mapping[str, str]  # shared by requests with the same headers; never mutated
    body: bytes | None
    timeout: Timeout
    origin: _Origin
    #: What follows the request line when urllib3 writes this request on a direct
    #: connection (Host, headers, framing, body; see :func:`~connector.http.transport.render`):
    #: a poll on a kept-alive connection is one send of the line and this. Shared by the
    #: requests that differ only in their target (one per waiting instance, typically), so
    #: it costs a wire no bytes of its own. None through a proxy, with a read timeout of 0
    #: (urllib3 refuses to read) and with OAuth (see ``signed``).
    tail: bytes | None = None
    #: OAuth: the token and the whole request that carries it, rendered again when the
    #: token changes. One attribute, so threads sending the same request never see a mismatch.
    signed: tuple[str, bytes] | None = None

    def request_bytes(self) -> bytes | None:
        """The whole request as sent on a kept-alive direct connection (None: not so)."""
        tail = self.tail
        return None if tail is None else request_line(self.method, self.target) + tail


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Polls of different instances share the session; they must not share cookies."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class HttpClient:
    """Runs :class:`~connector.http.request.BoundRequest` objects; see the module docstring.

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
        session = _Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(_NoCookies())
        session.headers["User-Agent"] = user_agent or f"http-polling-connector/{__version__}"
        self.session = session
        self._adapter = adapter
        # Keyed by (skip_encoding, origin as written in the URL); see the module docstring.
        self._origins: dict[tuple[bool, str], _Origin] = {}
        # Header blocks by content: the bound requests of one element share one dict.
        self._header_blocks: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
        self._timeouts: dict[tuple[float | None, float | None], Timeout] = {}
        self._tails: dict[bytes, bytes] = {}  # request tails by content (see _Wire.tail)

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
        deadline = time.monotonic() + self._total_seconds(req)
        reply = self._send(req, deadline)
        if reply.status == 401 and isinstance(req.auth, OAuthClientCredentials | OAuthRefreshToken):
            reply.discard()
            self.tokens.invalidate(req.auth)
            reply = self._send(req, deadline)
        if req.follow_redirects:
            reply, req = self._follow(req, reply, deadline)
        return self._read(req, reply, deadline)

    def _follow(
        self, req: BoundRequest, reply: Reply, deadline: float
    ) -> tuple[Reply, BoundRequest]:
        """Follow redirects of ``reply`` hop by hop under the rules of :func:`redirect_hop`,
        all within the request's one total ``deadline``."""
        hops = 0
        while reply.status in _REDIRECTS and reply.values.get("location"):
            location = reply.values["location"]
            reply.discard()
            hops += 1
            safe = redact_url(req.url)
            if hops > MAX_REDIRECTS:
                raise HttpTransportError(
                    "protocol", f"more than {MAX_REDIRECTS} redirects", url=safe
                )
            req = redirect_hop(req, reply.status, location, safe)
            reply = self._send(req, deadline)
        return reply, req

    # -- internals --------------------------------------------------------------------

    def _total_seconds(self, req: BoundRequest) -> float:
        timeouts = [t for t in (req.connect_timeout, req.read_timeout) if t is not None]
        total = sum(timeouts) if len(timeouts) == 2 else self.max_request_seconds
        return min(total, self.max_request_seconds)

    def _timeout(self, req: BoundRequest) -> tuple[float | None, float | None]:
        return (req.connect_timeout, req.read_timeout)

    def _send(self, req: BoundRequest, deadline: float) -> Reply:
        """Send ``req`` through its origin's pool, exactly as requests' adapter would; its
        answer is read (status line and headers included) within ``deadline``."""
        wire: _Wire | None = req.wire
        if wire is None:
            wire = self._prepare(req)
            # A cache on a frozen object: the same value whichever thread writes it first.
            object.__setattr__(req, "wire", wire)
        pool = self._pool(wire.origin)
        headers = wire.headers
        auth = req.auth
        if isinstance(auth, OAuthClientCredentials | OAuthRefreshToken):
            # The token changes over time, so it is the one header added on every poll.
            token = self.tokens.token(
                auth, self.session, timeout=self._timeout(req), verify=self.verify
            )
            headers = {**headers, "Authorization": f"Bearer {token}"}
            signed = wire.signed
            if signed is None or signed[0] != token:
                payload = self._render(pool, wire, headers, req)
                if payload is not None:
                    wire.signed = signed = (token, payload)
            payload = None if signed is None else signed[1]
        else:
            if wire.tail is None:
                wire.tail = self._tail(pool, wire, req)
            payload = wire.request_bytes()
        if pool.proxy is not None:
            return send_proxied(
                pool, wire.method, wire.target, headers, wire.body, wire.timeout, req.url
            )
        conn = take(pool)
        if payload is not None and conn.sock is not None:
            # The steady state: a kept-alive connection, the request already in bytes.
            return send_kept(
                pool, conn, payload, wire.method, self._timeout(req), req.url, deadline
            )
        return send_new(
            pool,
            conn,
            wire.method,
            wire.target,
            headers,
            wire.body,
            wire.timeout,
            req.url,
            deadline,
        )

    def _render(
        self,
        pool: urllib3.HTTPConnectionPool,
        wire: _Wire,
        headers: Mapping[str, str],
        req: BoundRequest,
    ) -> bytes | None:
        """``wire`` with ``headers`` in bytes, for direct connections (None otherwise, and
        with a read timeout of 0, which urllib3 refuses to read with)."""
        if pool.proxy is not None or req.read_timeout == 0:
            return None
        try:
            return render(pool, wire.method, wire.target, headers, wire.body)
        except Exception as exc:
            raise transport_error(exc, redact_url(req.url)) from None

    def _tail(
        self, pool: urllib3.HTTPConnectionPool, wire: _Wire, req: BoundRequest
    ) -> bytes | None:
        """:attr:`_Wire.tail`, one object for every wire with the same one."""
        whole = self._render(pool, wire, wire.headers, req)
        line = request_line(wire.method, wire.target)
        if whole is None or not whole.startswith(line):
            return None  # never so with urllib3 2: the fast path is left to urllib3 then
        tail = whole[len(line) :]
        known = self._tails.get(tail)
        if known is None:
            if len(self._tails) >= _MAX_ORIGINS:
                self._tails.clear()
            known = self._tails[tail] = tail
        return known

    def _prepare(self, req: BoundRequest) -> _Wire:
        """The wire form of ``req``: what requests would send, computed by requests itself."""
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
        key = (req.skip_encoding, _origin_of(req.url))
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    method=req.method,
                    url=req.url,
                    headers=headers,
                    params=None if req.skip_encoding else query,
                    data=req.body,
                    auth=_NO_NETRC,  # never ~/.netrc (see the module docstring)
                )
            )
            if req.skip_encoding:
                # Sent exactly as configured: requests would re-quote the URL otherwise.
                prepared.url = _append_raw_query(req.url, query)
            assert prepared.url is not None and prepared.method is not None
            origin = self._origins.get(key) or self._remember(key, prepared.url)
            target = self._adapter.request_url(prepared, dict(origin.settings["proxies"]))
            body = prepared.body
            if isinstance(body, str):
                body = body.encode("utf-8")
            assert body is None or isinstance(body, bytes)
            return _Wire(
                # requests upper-cases into a new string; the bound one is shared.
                method=req.method if prepared.method == req.method else prepared.method,
                target=target,
                headers=self._header_block(prepared.headers),
                body=body,
                timeout=self._timeout_of(req),
                origin=origin,
            )
        except Exception as exc:
            raise transport_error(exc, redact_url(req.url)) from None

    def _timeout_of(self, req: BoundRequest) -> Timeout:
        # Shared: a urllib3 Timeout is a plain object of some 300 bytes, and there is one
        # wire form per waiting instance.
        key = (req.connect_timeout, req.read_timeout)
        known = self._timeouts.get(key)
        if known is None:
            if len(self._timeouts) >= _MAX_ORIGINS:
                self._timeouts.clear()
            known = self._timeouts[key] = Timeout(connect=key[0], read=key[1])
        return known

    def _header_block(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        block = tuple(headers.items())
        known = self._header_blocks.get(block)
        if known is None:
            if len(self._header_blocks) >= _MAX_ORIGINS:
                self._header_blocks.clear()
            known = self._header_blocks[block] = dict(block)
        return known

    def _pool(self, origin: _Origin) -> urllib3.HTTPConnectionPool:
        """The origin's pool, as requests picks it (proxy, TLS verification, CA bundle)."""
        pool = origin.pool
        # A pool the pool manager evicted (more origins than pool_size) is closed: ask again.
        if pool is None or pool.pool is None:
            settings = origin.settings
            probe = requests.PreparedRequest()
            probe.method, probe.url = "GET", origin.url
            probe.headers = requests.structures.CaseInsensitiveDict()
            found = self._adapter.get_connection_with_tls_context(
                probe, settings["verify"], proxies=dict(settings["proxies"]), cert=settings["cert"]
            )
            assert isinstance(found, urllib3.HTTPConnectionPool)
            verify_tls: Any = self._adapter.cert_verify
            verify_tls(found, origin.url, settings["verify"], settings["cert"])
            origin.pool = pool = found
        return pool

    def _remember(self, key: tuple[bool, str], prepared_url: str) -> _Origin:
        """Ask requests about the environment for this origin, once (see module docstring)."""
        # Proxies (HTTP(S)_PROXY, NO_PROXY) and CA settings from the environment. Only the
        # scheme, host and port of the URL matter to requests here.
        settings = self.session.merge_environment_settings(
            prepared_url, {}, True, self.verify, None
        )
        if settings["verify"] is True and os.environ.get("SSL_CERT_FILE"):
            # requests bundles certifi and ignores OpenSSL's variable; honour it too.
            settings = {**settings, "verify": os.environ["SSL_CERT_FILE"]}
        known = _Origin(settings=settings, url=prepared_url)
        if len(self._origins) >= _MAX_ORIGINS:
            self._origins.clear()
        self._origins[key] = known
        return known

    def _read(self, req: BoundRequest, reply: Reply, deadline: float) -> HttpResponse:
        consumed = False
        try:
            if req.method == "HEAD":
                # No body follows, whatever Content-Length announces; the connection stays.
                reply.drain()
                raw = b""
            else:
                raw = self._read_capped(reply, req.url, deadline)
            consumed = True
        finally:
            if consumed:
                reply.release()
            else:
                reply.discard()
        content_type = reply.values.get("content-type")
        if reply.status >= 400:
            safe = redact_url(req.url)
            raise HttpStatusError(
                reply.status,
                reply.reason,
                body_excerpt=excerpt(raw, content_type),
                retry_after=parse_retry_after(reply.values.get("retry-after")),
                url=safe,
            )
        return HttpResponse(
            status=reply.status,
            reason=reply.reason,
            headers=reply.headers,
            body=self._parse(req, raw, content_type) if req.method != "HEAD" else None,
        )

    def _parse(self, req: BoundRequest, raw: bytes, content_type: str | None) -> Any:
        try:
            return parse_body(raw, content_type)
        except NonFiniteNumberError as exc:
            raise HttpTransportError(
                "invalid_body",
                f"element {req.element}: response body is not valid JSON: {exc} "
                "(NaN, Infinity and numbers beyond 1.8e308 cannot be published)",
                url=redact_url(req.url),
            ) from None

    def _read_capped(self, reply: Reply, url: str, deadline: float) -> bytes:
        # The URL is redacted only for an error: redact_url costs as much as a header parse.
        limit = self.max_response_bytes
        values = reply.values
        declared = values.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, redact_url(url))
        try:
            # A body of known length with no encoding ends when that many bytes arrived:
            # the common poll answer takes one read and no end-of-body probe.
            expected = (
                int(declared)
                if declared.isdigit()
                and "content-encoding" not in values
                and "transfer-encoding" not in values  # chunked would override the length
                else None
            )
            chunks: list[bytes] = []
            size = 0
            # read1 returns whatever one socket read brings, where read(n) would wait for n
            # bytes: a trickle of bytes is checked against the deadline as it arrives.
            while chunk := reply.read1(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, redact_url(url))
                chunks.append(chunk)
                if expected is not None and size >= expected:
                    break
                if time.monotonic() > deadline:
                    raise deadline_error(redact_url(url))
        except HttpTransportError:
            raise
        except (
            urllib3.exceptions.ReadTimeoutError,
            urllib3.exceptions.SSLError,
            OSError,
        ) as exc:
            if past_deadline(exc):
                raise deadline_error(redact_url(url)) from None
            raise HttpTransportError(
                "read_timeout", "reading the body failed", url=redact_url(url)
            ) from None
        except Exception as exc:
            # Truncated chunks, a broken gzip stream: what requests reports as a protocol error.
            raise HttpTransportError("protocol", type(exc).__name__, url=redact_url(url)) from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def redirect_hop(req: BoundRequest, status: int, location: str, safe: str) -> BoundRequest:
    """The request to send for a redirect of ``req`` to ``location``; pure.

    * https -> http is refused (the request may carry credentials, and the answer is
      trusted as much as the original).
    * 303, 302 (and 301 after POST) continue as GET without a body, as browsers and
      requests do; 307 and 308 keep the method and the body.
    * To another origin (scheme, host or port), the authentication, the credential headers
      (``Authorization``, ``Proxy-Authorization``, ``Cookie``), every header, query
      parameter and body marked sensitive by binding, and anything holding a registered
      secret value are dropped.
    """
    target = urljoin(req.url, location.strip())
    try:
        old, new = urlsplit(req.url), urlsplit(target)
        old_origin, new_origin = _origin_key(old), _origin_key(new)
    except ValueError:
        raise HttpTransportError("invalid_url", "invalid redirect location", url=safe) from None
    if new.scheme.lower() not in ("http", "https") or not new.hostname:
        raise HttpTransportError("invalid_url", "redirect to a non-http(s) URL", url=safe)
    if old.scheme.lower() == "https" and new.scheme.lower() == "http":
        raise HttpTransportError(
            "insecure_redirect", "refused a redirect from https to http", url=safe
        )
    method, body = req.method, req.body
    headers = list(req.headers)
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        method, body = "GET", None
        headers = [
            (k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")
        ]
    changes: dict[str, Any] = {"url": target, "query": (), "method": method, "body": body}
    if new_origin != old_origin:
        drop = _CREDENTIAL_HEADERS | req.sensitive_headers
        headers = [(k, v) for k, v in headers if k.lower() not in drop and not contains_secret(v)]
        query = [
            (k, v)
            for k, v in parse_qsl(new.query, keep_blank_values=True)
            if k not in req.sensitive_query and not contains_secret(v)
        ]
        if len(query) != len(parse_qsl(new.query, keep_blank_values=True)):
            target = urlunsplit((new.scheme, new.netloc, new.path, urlencode(query), new.fragment))
        if body is not None and (
            req.sensitive_body or contains_secret(body.decode("utf-8", "replace"))
        ):
            body = None
        changes.update(
            url=target,
            body=body,
            auth=NoAuth(),
            sensitive_headers=frozenset(),
            sensitive_query=frozenset(),
            sensitive_body=False,
        )
    changes["headers"] = tuple(headers)
    return dataclasses.replace(req, **changes)


def _origin_key(parts: Any) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


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
