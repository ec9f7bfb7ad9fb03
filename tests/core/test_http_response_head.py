"""The faster header reading must give exactly what http.client's email parser gives."""

from __future__ import annotations

import email.parser
import http.client
import io
import random

import pytest

from connector.http.response_head import Response, read_message


def stdlib(lines: list[bytes]) -> http.client.HTTPMessage:
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)


def lines_of(block: bytes) -> list[bytes]:
    """The lines of a header block as http.client reads them (up to the empty line)."""
    read: list[bytes] = http.client._read_headers(io.BytesIO(block))  # type: ignore[attr-defined]
    return read


def same(lines: list[bytes]) -> None:
    ours, theirs = read_message(lines), stdlib(lines)
    assert ours.items() == theirs.items(), lines
    assert ours.get_payload() == theirs.get_payload(), lines
    for name in {k.lower() for k, _ in theirs.items()} | {"content-length", "x-missing"}:
        assert ours.get_all(name) == theirs.get_all(name), (lines, name)


@pytest.mark.parametrize(
    "block",
    [
        b"\r\n",
        b"",
        b"Content-Type: application/json\r\nContent-Length: 12\r\n\r\n",
        b"A:b\r\nA:  c \t\r\nA:\r\n\r\n",  # repeated, no blank, trailing blanks kept, empty
        b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nX: caf\xe9\r\n\r\n",  # latin-1 byte
        b"X: a\x0bb\x0cc\x1cd\x85e\x00\r\n\r\n",  # control bytes in a value
        b"X: folded\r\n  continued\r\nY: z\r\n\r\n",  # obs-fold
        b"From nobody\r\nX: y\r\n\r\n",  # an mbox From line
        b"From: me\r\n\r\n",
        b": no name\r\nX: y\r\n\r\n",
        b"Bad Name: v\r\nX: y\r\n\r\n",  # a space in the name
        b"NoColon\r\nX: y\r\n\r\n",
        b"X: stray\rcr\r\nY: z\r\n\r\n",
        b"X: lf only\nY: z\n\n",
        b"X: a\r\nY: b\r\n",  # EOF before the empty line
        b"X: a: b: c\r\n\r\n",
    ],
)
def test_header_blocks_read_as_the_email_parser_reads_them(block: bytes) -> None:
    same(lines_of(block))


def test_random_header_blocks_read_as_the_email_parser_reads_them() -> None:
    rng = random.Random(7)
    alphabet = [b"a", b"Z", b"-", b":", b" ", b"\t", b"\r", b"\x85", b"\xe9", b"\x00", b"From "]
    for _ in range(3000):
        lines = []
        for _ in range(rng.randrange(0, 5)):
            name = b"".join(rng.choice(alphabet[:3] + alphabet[4:6]) for _ in range(3))
            value = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))
            ending = rng.choice([b"\r\n", b"\r\n", b"\r\n", b"\n"])
            lines.append(name + rng.choice([b":", b": ", b""]) + value + ending)
        lines.append(rng.choice([b"\r\n", b"\n", b""]))
        same(lines_of(b"".join(lines)))


class FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data))


@pytest.mark.parametrize(
    ("answer", "method"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "GET"),
        (
            b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            "POST",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "GET"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\nabc",
            "GET",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "HEAD"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", "GET"),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\nbody", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nbody", "GET"),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", "GET"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", "GET"),
        (b"HTTP/1.0 200 OK\r\nKeep-Alive: 5\r\nContent-Length: 2\r\n\r\n{}", "GET"),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n{}", "GET"),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", "GET"),
        (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nX: folded\r\n  on\r\nContent-Length: 2\r\n\r\n{}", "GET"),
    ],
)
def test_responses_begin_as_with_http_client(answer: bytes, method: str) -> None:
    ours = Response(FakeSocket(answer), method=method)  # type: ignore[arg-type]
    theirs = http.client.HTTPResponse(FakeSocket(answer), method=method)  # type: ignore[arg-type]
    ours.begin()
    theirs.begin()
    for attribute in ("status", "reason", "version", "chunked", "length", "will_close"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert ours.msg.items() == theirs.msg.items()
    assert list(ours.fields) == theirs.msg.items()
    assert ours.read() == theirs.read()


@pytest.mark.parametrize(
    "answer",
    [b"", b"NOT HTTP\r\n\r\n", b"HTTP/2.0 200 OK\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"],
)
def test_bad_answers_fail_as_with_http_client(answer: bytes) -> None:
    with pytest.raises(http.client.HTTPException) as theirs:
        http.client.HTTPResponse(FakeSocket(answer)).begin()  # type: ignore[arg-type]
    with pytest.raises(http.client.HTTPException) as ours:
        Response(FakeSocket(answer)).begin()  # type: ignore[arg-type]
    assert type(ours.value) is type(theirs.value)
