"""Read a response's status line and header block as http.client does, faster.

``http.client`` hands every header block to the ``email`` package, a general MIME parser:
in a bare keep-alive loop that is most of the CPU a request costs. :class:`Response` reads
a block whose every line is one plain ``Name: value`` field itself, into the same
:class:`http.client.HTTPMessage` (names, values, order and duplicates as the email parser
gives them); any other block (folded lines, a stray CR, names the email parser treats
differently) goes through the email parser, as in the standard library. Status line,
1xx answers, HTTP version, framing (chunked, Content-Length, HEAD, 204, 304) and
keep-alive are decided by the same rules as :meth:`http.client.HTTPResponse.begin`.

A response given a ``deadline`` reads its socket through :class:`_DeadlineReader`: every
socket read, status line and header lines included, first checks the request's total
deadline, so a server trickling its header block a byte at a time (each byte within the
read timeout) cannot hold a poll past its total timeout.
"""

from __future__ import annotations

import email.parser
import http.client
import io
import re
import socket
import time
from collections.abc import Sequence
from typing import Any

#: A header line that the email parser reads as exactly one field: a name of visible
#: characters other than ":" directly before the first colon (so no folded continuation,
#: no "From " line, no empty name), ending with CRLF and holding no other CR.
_PLAIN_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r]*\r\n\Z")
#: Statuses whose answer has no body, whatever its headers say (as http.client).
_NO_BODY = frozenset((http.client.NO_CONTENT, http.client.NOT_MODIFIED))


def read_message(lines: list[bytes]) -> http.client.HTTPMessage:
    """The header block ``lines`` (as ``http.client`` reads them: the last one is the
    empty line or EOF) as http.client's parser would give it."""
    return read_fields(lines)[0]


def read_fields(
    lines: list[bytes],
) -> tuple[http.client.HTTPMessage, list[tuple[str, str]] | None]:
    """:func:`read_message`, and for a block of plain fields the ``(name, value)`` pairs
    that its ``items()`` would list (None for other blocks: ask the message)."""
    plain = lines[:-1]
    if not all(_PLAIN_FIELD.match(line) for line in plain):
        text = b"".join(lines).decode("iso-8859-1")
        return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text), None
    message = http.client.HTTPMessage()
    fields: list[tuple[str, str]] = []
    for line in plain:
        name, _, value = line[:-2].decode("iso-8859-1").partition(":")
        # As the email parser's compat32 policy: leading blanks go, trailing ones stay.
        field = (name, value.lstrip(" \t"))
        message.set_raw(*field)
        fields.append(field)
    message.set_payload("")
    # items() would list these unchanged: latin-1 text never holds the surrogates that
    # make the compat32 policy wrap a value.
    return message, fields


class DeadlineExceeded(TimeoutError):
    """The request's total deadline passed while its answer was still arriving."""


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side that refuses to read past ``deadline`` (monotonic seconds).

    It wraps the socket's own unbuffered reader (so the socket stays open while the
    response reads it, as ``makefile`` promises, even after its connection is closed) and
    shortens the socket timeout near the deadline: no single read waits beyond it.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline
        # The read timeout was set before the answer is read; only this reader changes it.
        self._timeout = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the response took longer than its total timeout")
        timeout = self._timeout
        shortened = timeout is None or timeout > left
        if shortened:
            self._sock.settimeout(left)
            self._timeout = left
        try:
            read: int | None = self._raw.readinto(buffer)
        except TimeoutError:
            if shortened:  # the wait ended at the deadline, not at the read timeout
                raise DeadlineExceeded("the response took longer than its total timeout") from None
            raise
        return read

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Deadlined:
    """What :class:`http.client.HTTPResponse` asks of its socket (``makefile``), giving a
    reader bound to a deadline."""

    __slots__ = ("_deadline", "_sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class Response(http.client.HTTPResponse):
    """An ``http.client`` response whose header block is read by :func:`read_fields`;
    after :meth:`begin`, ``fields`` lists its header fields as ``msg.items()`` would.
    With a ``deadline`` (monotonic seconds) no read of the answer goes past it
    (:class:`DeadlineExceeded`)."""

    fields: Sequence[tuple[str, str]] = ()

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
        *,
        deadline: float | None = None,
    ) -> None:
        # http.client only calls the socket's makefile: the stand-in gives the bounded one.
        source: Any = sock if deadline is None else _Deadlined(sock, deadline)
        super().__init__(source, debuglevel, method, url)

    def begin(self) -> None:
        if self.headers is not None:
            return  # begun already
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            # An interim "100 Continue": its header block is read and dropped.
            http.client._read_headers(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11  # HTTP/1.x, x >= 1, is read as 1.1
        else:
            raise http.client.UnknownProtocol(version)
        message, fields = read_fields(http.client._read_headers(self.fp))
        self.headers = self.msg = message
        self.fields = fields if fields is not None else message.items()
        encoding = self.msg.get("transfer-encoding")
        self.chunked = bool(encoding) and encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        declared = self.msg.get("content-length")
        if declared and not self.chunked:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            self.length = length if length >= 0 else None  # nonsense lengths are ignored
        if status in _NO_BODY or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            # Without a length or chunks, the body ends when the connection does.
            self.will_close = True
