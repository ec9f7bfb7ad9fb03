"""The one redaction point: credential values never reach a log line or a status document.

Every credential the worker resolves (secrets from the secret provider, basic passwords,
bearer tokens, API keys, OAuth client secrets, refresh and access tokens, user info in the
cluster addresses) is :func:`register`-ed the moment it is resolved. Log output (through
:class:`RedactingFormatter`, installed by :func:`connector.observability.setup_logging`),
error messages of failed polls and the ``/inbound`` document pass through :func:`redact`,
which replaces every registered value, in the spellings it may take on the way (as is,
JSON-escaped, percent-encoded, form-encoded), by ``***``. So a credential echoed back by an
endpoint in an error body, or sitting in a URL path, is scrubbed without any code path
having to remember it.

Values shorter than :data:`MIN_LENGTH` characters are not registered: scrubbing every
``"ab"`` from every log line would destroy the logs without protecting anything (such a
value is guessable anyway). The registry is bounded (:data:`MAX_VALUES`, oldest first out)
because access tokens rotate for as long as the worker runs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

#: What a scrubbed value is replaced with.
MASK = "***"
#: Shorter values are not registered (see the module docstring).
MIN_LENGTH = 4
#: Most distinct values remembered; the least recently registered go first.
MAX_VALUES = 16384


class _Registry:
    """Thread-safe set of sensitive strings with one compiled pattern over all of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                if value in self._values:
                    self._values.move_to_end(value)
                    continue
                self._values[value] = None
                self._dirty = True
                while len(self._values) > MAX_VALUES:
                    self._values.popitem(last=False)

    def touch(self, value: str) -> bool:
        """True (and marked as recently used) when ``value`` is registered already."""
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return True
            return False

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._dirty:
                # Longest first, so a value containing another is masked as a whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
                self._dirty = False
            return self._pattern

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None
            self._dirty = False

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._values


_REGISTRY = _Registry()


def spellings(value: str) -> set[str]:
    """``value`` as it may appear in a log line, a JSON document, a URL or a form."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    }
    # A JSON log line of an already JSON-escaped text escapes it once more.
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}
    return {form for form in forms if len(form) >= MIN_LENGTH}


def register(*values: str | None) -> None:
    """Treat each value (and its usual encodings) as a credential from now on."""
    forms: set[str] = set()
    for value in values:
        # Known values skip the encodings: binding registers the same ones on every poll.
        if value and len(value) >= MIN_LENGTH and not _REGISTRY.touch(value):
            forms |= spellings(value)
    if forms:
        _REGISTRY.add(forms)


def register_basic(username: str, password: str) -> None:
    """A basic-auth pair: the password and the ``base64(user:password)`` header value."""
    register(password)
    if password:
        raw = f"{username}:{password}".encode()
        register(base64.b64encode(raw).decode("ascii"))


def register_url_credentials(*urls: str | None) -> None:
    """The user info of each URL (``scheme://user:password@host``); only its secret part.

    A URL with a user name but no password (``https://TOKEN@host``) carries the token in
    the user name, so then the user name is registered.
    """
    for url in urls:
        if not url or "@" not in url:
            continue
        try:
            parts = urlsplit(url if "://" in url else "//" + url)
        except ValueError:
            continue
        if parts.password:
            register(parts.password, unquote(parts.password))
            if parts.username:
                register_basic(unquote(parts.username), unquote(parts.password))
        elif parts.username:
            register(parts.username, unquote(parts.username))


def is_registered(value: str) -> bool:
    return value in _REGISTRY


def contains_secret(text: str) -> bool:
    """True when ``text`` holds a registered value."""
    pattern = _REGISTRY.pattern()
    return pattern is not None and pattern.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every registered value replaced by :data:`MASK`."""
    pattern = _REGISTRY.pattern()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def reset() -> None:
    """Forget every registered value (tests)."""
    _REGISTRY.clear()


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and scrubs its finished output, exception text included.

    Scrubbing the finished line (rather than the message or the fields) covers every part
    of a record whatever produced it: the message, structured fields, tracebacks.
    """

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))
