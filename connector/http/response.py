"""The HTTP response as correlation sees it, and the errors of a failed poll."""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connector.redaction import redact

HeaderValue = str | list[str]

#: How much of an error response body goes into an error message.
EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A successful (status < 400) response.

    ``headers`` keeps header names as the server sent them; a header sent once maps to a
    string, sent several times to a list. ``body`` is the parsed JSON when the body is
    JSON, else the text; an empty body is ``None``.
    """

    status: int
    reason: str
    headers: dict[str, HeaderValue] = field(default_factory=dict)
    body: Any = None

    def as_feel(self) -> dict[str, Any]:
        """The response as FEEL sees it: ``{status, headers, body, reason}``."""
        return {
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "reason": self.reason,
        }


class HttpError(Exception):
    """A poll that produced no usable response. Messages never contain credentials."""

    def __init__(self, message: str, *, url: str = "") -> None:
        # Scrubbed at construction: the message may quote an echoed credential or a URL
        # path holding a secret, and errors travel to logs and to ``/inbound``.
        super().__init__(redact(message))
        self.url = redact(url)


class HttpStatusError(HttpError):
    """The server answered 4xx or 5xx; such responses are not evaluated for activation."""

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        body_excerpt: str = "",
        retry_after: float | None = None,
        url: str = "",
    ) -> None:
        text = f"HTTP {status} {reason}".rstrip()
        if url:
            text += f" from {url}"
        if body_excerpt:
            text += f": {body_excerpt}"
        super().__init__(text, url=url)
        self.status = status
        self.reason = reason
        self.body_excerpt = body_excerpt
        self.retry_after = retry_after


class HttpTransportError(HttpError):
    """No HTTP answer: connect/read timeout, TLS, connection, protocol, too large, bad URL.

    ``kind`` is one of ``connect_timeout``, ``read_timeout``, ``deadline`` (the answer
    took longer than the request's total timeout), ``tls``, ``connection``, ``too_large``,
    ``invalid_url``, ``protocol``, ``oauth``.
    """

    def __init__(self, kind: str, message: str, *, url: str = "") -> None:
        super().__init__(f"{message} ({url})" if url else message, url=url)
        self.kind = kind


class OAuthError(HttpTransportError):
    """The OAuth token endpoint failed; ``error`` is its OAuth error code when it sent one."""

    def __init__(
        self, message: str, *, error: str | None = None, status: int | None = None, url: str = ""
    ) -> None:
        super().__init__("oauth", message, url=url)
        self.error = error
        self.status = status


def collect_headers(items: Iterable[tuple[str, str]]) -> dict[str, HeaderValue]:
    """Group raw header pairs; the first spelling of a name is kept."""
    result: dict[str, HeaderValue] = {}
    spelling: dict[str, str] = {}
    for name, value in items:
        key = spelling.setdefault(name.lower(), name)
        existing = result.get(key)
        if existing is None:
            result[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            result[key] = [existing, value]
    return result


def parse_body(raw: bytes, content_type: str | None) -> Any:
    """JSON when the body is JSON (by content type or by shape), else text; blank is None."""
    text = decode_text(raw, content_type)
    stripped = text.strip()
    if not stripped:
        return None
    looks_json = stripped[0] in "{[" or "json" in (content_type or "").lower()
    if looks_json:
        try:
            return _DECODER.decode(stripped)
        except NonFiniteNumberError:
            raise
        except ValueError:
            return text
    return text


class NonFiniteNumberError(ValueError):
    """A JSON body holds ``NaN``, ``Infinity`` or a number beyond the double range (1e400).

    Such a body is refused rather than mapped to ``null``: published variables must be
    JSON, and silently turning a number into ``null`` would let a condition on it go
    wrong without a trace. The poll fails with a message naming the element.
    """


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity; JSON (and Zeebe) do not.
    raise NonFiniteNumberError(f"'{name}' is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NonFiniteNumberError(f"number {text[:32]} is beyond the range of a double")
    return value


#: One decoder for every body (json.loads with options would build one per call); it keeps
#: no state between calls, as json.loads' own shared decoder.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode_text(raw: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip("\"' ")
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def excerpt(raw: bytes, content_type: str | None, limit: int = EXCERPT_CHARS) -> str:
    """A one-line, bounded excerpt of a body for error messages."""
    text = redact(" ".join(decode_text(raw[: limit * 4], content_type).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def redact_url(url: str) -> str:
    """``url`` without user info, query string and fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "<invalid URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
