"""Put one prepared request on a pooled connection and hand back its answer to be read.

Two ways, one result (:class:`Reply`):

* on a kept-alive direct connection (the steady state of polling) the request is a single
  ``sendall`` of bytes rendered once by urllib3's own request writer (:func:`render`), and
  the answer is read by ``http.client`` (with a faster header reading, see
  :mod:`connector.http.response_head`): less than a bare keep-alive loop does, without
  urllib3's per-request header handling and response wrapper;
* a new or dropped connection, a proxy, or a compressed answer go through urllib3 as
  requests' adapter would use it.

Both keep urllib3's behaviour: the same bytes on the wire, the same pool (its stale
connection check, TLS set-up and limits), connections closed after an error or when the
server says so, and the same errors (:func:`transport_error`; a body read fails with the
exceptions urllib3 raises).
"""

from __future__ import annotations

import errno
import functools
import http.client
import ssl
from collections.abc import Iterable, Mapping
from typing import Any, cast

import requests
import urllib3
import urllib3.exceptions
from urllib3.connection import HTTPConnection
from urllib3.util import Retry, Timeout

from connector.http.response import HeaderValue, HttpTransportError, redact_url
from connector.http.response_head import DeadlineExceeded, Response

#: As requests: a failed poll is not retried here (the scheduler backs off and polls again).
_NO_RETRIES = Retry(total=False, redirect=False)
#: What urllib3 counts as a read timeout when a socket call fails with an errno.
_BLOCKING = frozenset((errno.EAGAIN, errno.EWOULDBLOCK))
#: A write failing with these may still be answered (the server answered and closed).
_ANSWERABLE = frozenset((errno.EPROTOTYPE, errno.ECONNRESET))

Pool = urllib3.HTTPConnectionPool


class Reply:
    """An answer whose body is still to be read (or discarded).

    ``headers`` groups the header fields as the server sent them (first spelling of a
    name; a repeated field maps to a list); ``values`` maps lower-case names to the value,
    a repeated field's values joined with ``", "`` (how urllib3 reads a header).
    """

    __slots__ = ("headers", "reason", "status", "values")

    def __init__(self, status: int, reason: str | None, items: Iterable[tuple[str, str]]) -> None:
        self.status = status
        self.reason = reason or ""
        self.headers, self.values = group_headers(items)

    def read1(self, amount: int) -> bytes:
        """Up to ``amount`` bytes of the (decoded) body, as soon as any arrived; b"" at the end."""
        raise NotImplementedError

    def drain(self) -> None:
        """Read what is left (nothing after HEAD) so that the connection can be reused."""
        raise NotImplementedError

    def release(self) -> None:
        """The body was read: the connection goes back to its pool for the next request."""
        raise NotImplementedError

    def discard(self) -> None:
        """The body is not wanted: close the connection (its slot goes back empty)."""
        raise NotImplementedError


class _PooledReply(Reply):
    """urllib3's response: it decodes the body and gives its connection back itself."""

    __slots__ = ("_response",)

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(response.status, response.reason, response.headers.items())
        self._response = response

    def read1(self, amount: int) -> bytes:
        return self._response.read1(amount, decode_content=True)

    def drain(self) -> None:
        self._response.read()

    def release(self) -> None:
        self._response.release_conn()

    def discard(self) -> None:
        self._response.close()
        self._response.release_conn()


class _DirectReply(Reply):
    """http.client's response on a connection of ``pool``; fails as urllib3 would."""

    __slots__ = ("_conn", "_pool", "_raw")

    def __init__(self, raw: Response, conn: HTTPConnection, pool: Pool) -> None:
        super().__init__(raw.status, raw.reason, raw.fields)
        self._raw = raw
        self._conn = conn
        self._pool = pool

    def read1(self, amount: int) -> bytes:
        try:
            data = self._raw.read1(amount)
        except TimeoutError as exc:
            raise urllib3.exceptions.ReadTimeoutError(self._pool, "", "Read timed out.") from exc
        except ssl.SSLError as exc:
            raise urllib3.exceptions.SSLError(exc) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise urllib3.exceptions.ProtocolError(f"Connection broken: {exc!r}", exc) from exc
        if not data and amount and self._raw.length:
            # The connection ended before Content-Length bytes came: urllib3 enforces it.
            raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")
        return data

    def drain(self) -> None:
        self._raw.read()

    def release(self) -> None:
        self._pool._put_conn(self._conn)

    def discard(self) -> None:
        self._raw.close()
        self._conn.close()
        self._pool._put_conn(self._conn)


def request_line(method: str, target: str) -> bytes:
    """The request line as http.client writes it (HTTP/1.1, ASCII, CRLF)."""
    return f"{method} {target} HTTP/1.1\r\n".encode("ascii")


def take(pool: Pool) -> HTTPConnection:
    """A connection of ``pool``: a kept-alive one (checked for a close by the server) or a
    new one, connected when first used."""
    # urllib3's pools make only HTTPConnection subclasses; its annotation is a protocol.
    return cast(HTTPConnection, pool._get_conn())


def render(
    pool: Pool, method: str, target: str, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The bytes urllib3 writes for this request on a direct connection of ``pool``:
    request line, ``Host``, the headers, framing and body, rendered by urllib3 itself.

    Raises what urllib3 would raise sending it (e.g. ``ValueError`` for a header value or
    target it cannot encode).
    """
    written: list[bytes] = []
    # A connection object that is never connected: its writes are collected instead.
    recorder: Any = pool.ConnectionCls(host=pool.host, port=pool.port)
    recorder.send = written.append
    recorder.request(method, target, body=body, headers=headers, chunked=False)
    return b"".join(written)


def send_kept(
    pool: Pool,
    conn: HTTPConnection,
    payload: bytes,
    method: str,
    timeouts: tuple[float | None, float | None],
    url: str,
    deadline: float,
) -> Reply:
    """Send ``payload`` on ``conn``, a connected keep-alive connection taken from ``pool``;
    the answer is read within ``deadline`` (monotonic seconds).

    As urllib3 does: the request is written under the connect timeout, the answer read
    under the read timeout; a write the server cut short may still be answered; on any
    failure the connection is closed and its slot goes back to the pool empty.
    """
    sock = conn.sock
    try:
        sock.settimeout(timeouts[0])
        try:
            sock.sendall(payload)
        except BrokenPipeError:
            pass
        except OSError as exc:
            if exc.errno not in _ANSWERABLE:
                raise
        sock.settimeout(timeouts[1])
        raw = Response(sock, method=method, deadline=deadline)
        try:
            raw.begin()
        except OSError as exc:
            if isinstance(exc, TimeoutError) or exc.errno in _BLOCKING:
                raise urllib3.exceptions.ReadTimeoutError(pool, url, "Read timed out.") from exc
            raise
    except BaseException as exc:
        conn.close()
        pool._put_conn(None)
        if not isinstance(exc, Exception):
            raise
        raise transport_error(exc, redact_url(url)) from None
    if raw.will_close:
        # As http.client: the socket closes once the body is read; the pool reconnects.
        conn.close()
    reply = _DirectReply(raw, conn, pool)
    if "content-encoding" in reply.values:
        # Rare for polls: urllib3 decodes it, from the answer already parsed.
        return _PooledReply(
            urllib3.HTTPResponse(
                body=raw,
                headers=urllib3.HTTPHeaderDict(raw.msg.items()),
                status=raw.status,
                version=raw.version,
                reason=raw.reason,
                preload_content=False,
                decode_content=False,
                original_response=raw,
                pool=pool,
                connection=conn,
                retries=_NO_RETRIES,
                request_method=method,
            )
        )
    return reply


def send_new(
    pool: Pool,
    conn: HTTPConnection,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: Timeout,
    url: str,
    deadline: float,
) -> Reply:
    """Send on ``conn`` (from ``pool``, not connected yet) through urllib3: what ``urlopen``
    does for a direct request without retries or redirects, minus re-encoding the already
    encoded target and building a retry policy. urllib3 connects (TLS included); the
    answer is read within ``deadline`` (monotonic seconds)."""
    # http.client makes the connection's response with response_class(sock, method=...).
    conn.response_class = functools.partial(Response, deadline=deadline)  # type: ignore[assignment]
    try:
        response = pool._make_request(
            conn,
            method,
            target,
            body=body,
            headers=headers,
            retries=_NO_RETRIES,
            timeout=timeout,
            chunked=False,
            response_conn=conn,
            preload_content=False,
            decode_content=False,
        )
    except BaseException as exc:
        # As urlopen: the connection may be half used, so it is closed, and its slot goes
        # back to the pool empty (a new connection is made for it when needed).
        conn.close()
        pool._put_conn(None)
        if not isinstance(exc, Exception):
            raise
        raise transport_error(exc, redact_url(url)) from None
    return _PooledReply(response)


def send_proxied(
    pool: Pool,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: Timeout,
    url: str,
) -> Reply:
    """Through a proxy: urlopen adds the proxy headers and opens CONNECT tunnels."""
    try:
        response = pool.urlopen(
            method,
            target,
            body=body,
            headers=headers,
            retries=False,  # as requests: a failed poll is retried by the scheduler
            redirect=False,  # redirects are followed by the client, with its rules
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            timeout=timeout,
            chunked=False,
        )
    except Exception as exc:
        raise transport_error(exc, redact_url(url)) from None
    return _PooledReply(response)


def group_headers(
    items: Iterable[tuple[str, str]],
) -> tuple[dict[str, HeaderValue], dict[str, str]]:
    """Header fields grouped by name (first spelling kept; a repeated field becomes a
    list), and each field's value by lower-case name (repeated values joined by ", ")."""
    grouped: dict[str, HeaderValue] = {}
    joined: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for name, value in items:
        low = name.lower()
        seen = joined.get(low)
        if seen is None:
            grouped[name] = joined[low] = value
            spelling[low] = name
            continue
        joined[low] = f"{seen}, {value}"
        key = spelling[low]
        existing = grouped[key]
        if isinstance(existing, list):
            existing.append(value)
        else:
            grouped[key] = [existing, value]
    return grouped, joined


def transport_error(exc: Exception, safe: str) -> HttpTransportError:
    """``exc`` raised sending a request, as the error kinds requests' exceptions map to."""
    errors = urllib3.exceptions
    if isinstance(exc, HttpTransportError):
        return exc
    if past_deadline(exc):
        return deadline_error(safe)
    if isinstance(exc, errors.ProxyError):
        # str(exc) would repeat the full URL, query string included.
        return HttpTransportError("connection", f"connection failed ({_cause(exc)})", url=safe)
    if isinstance(
        exc, errors.SSLError | requests.exceptions.SSLError | ssl.SSLError | ssl.CertificateError
    ):
        return HttpTransportError("tls", "TLS handshake failed", url=safe)
    if isinstance(exc, errors.ConnectTimeoutError) and not isinstance(
        exc, errors.NewConnectionError
    ):
        return HttpTransportError("connect_timeout", "connect timed out", url=safe)
    if isinstance(exc, errors.ReadTimeoutError):
        return HttpTransportError("read_timeout", "read timed out", url=safe)
    if isinstance(
        exc,
        errors.LocationValueError
        | requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | ValueError,
    ):
        return HttpTransportError("invalid_url", "invalid URL", url=safe)
    if isinstance(
        exc,
        errors.NewConnectionError
        | errors.ProtocolError
        | errors.ClosedPoolError
        | errors.EmptyPoolError
        | http.client.HTTPException  # the server closed the connection or sent garbage
        | OSError
        | requests.exceptions.ConnectionError,
    ):
        return HttpTransportError("connection", f"connection failed ({_cause(exc)})", url=safe)
    return HttpTransportError("protocol", type(exc).__name__, url=safe)


def past_deadline(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps: urllib3 turns socket timeouts into its own
    errors) is a read stopped by the request's total deadline."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, DeadlineExceeded):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def deadline_error(safe: str) -> HttpTransportError:
    return HttpTransportError(
        "deadline", "the response took longer than its total timeout", url=safe
    )


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
