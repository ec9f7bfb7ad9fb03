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
#: Up to this many values one regular expression matches them all (see _Registry).
_REGEX_MAX = 64


class _Registry:
    """Thread-safe set of sensitive strings and the matcher over all of them.

    Up to :data:`_REGEX_MAX` values, one compiled alternation (fastest for the usual
    handful of secrets). Beyond that (per-instance tokens from process variables), a
    regular expression over thousands of alternatives costs milliseconds per line and
    a long compile per new value, so matching switches to an index by the first
    :data:`MIN_LENGTH` characters: one dictionary lookup per character of the text,
    whatever the number of values, and nothing to rebuild when one is added.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()
        # First MIN_LENGTH characters -> values with that start, longest first.
        self._index: dict[str, list[str]] = {}
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                if value in self._values:
                    self._values.move_to_end(value)
                    continue
                self._values[value] = None
                bucket = self._index.setdefault(value[:MIN_LENGTH], [])
                bucket.append(value)
                bucket.sort(key=len, reverse=True)
                self._dirty = True
                while len(self._values) > MAX_VALUES:
                    old, _ = self._values.popitem(last=False)
                    self._forget(old)

    def _forget(self, value: str) -> None:
        bucket = self._index.get(value[:MIN_LENGTH], [])
        if value in bucket:
            bucket.remove(value)
        if not bucket:
            self._index.pop(value[:MIN_LENGTH], None)

    def touch(self, value: str) -> bool:
        """True (and marked as recently used) when ``value`` is registered already."""
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return True
            return False

    def _matcher(self) -> re.Pattern[str] | None:
        if self._dirty:
            self._dirty = False
            self._pattern = None
            if 0 < len(self._values) <= _REGEX_MAX:
                # Longest first, so a value containing another is masked as a whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return self._pattern

    def sub(self, text: str, *, first_only: bool = False) -> str | None:
        """``text`` masked; with ``first_only``, None when nothing matches (else any text)."""
        with self._lock:
            if not self._values:
                return None if first_only else text
            pattern = self._matcher()
            if pattern is not None:
                if first_only:
                    return None if pattern.search(text) is None else MASK
                return pattern.sub(MASK, text)
            return _scan(text, self._index, first_only=first_only)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._index.clear()
            self._pattern = None
            self._dirty = False

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._values


def _scan(text: str, index: dict[str, list[str]], *, first_only: bool) -> str | None:
    """Leftmost-longest replacement through the prefix index (see :class:`_Registry`)."""
    parts: list[str] = []
    get = index.get
    last = i = 0
    end = len(text) - MIN_LENGTH
    while i <= end:
        for value in get(text[i : i + MIN_LENGTH], ()):
            if text.startswith(value, i):
                if first_only:
                    return MASK
                parts.append(text[last:i])
                parts.append(MASK)
                i = last = i + len(value)
                break
        else:
            i += 1
    if first_only:
        return None
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


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
    return _REGISTRY.sub(text, first_only=True) is not None


def redact(text: str) -> str:
    """``text`` with every registered value replaced by :data:`MASK`."""
    if not text:
        return text
    result = _REGISTRY.sub(text)
    return text if result is None else result


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
