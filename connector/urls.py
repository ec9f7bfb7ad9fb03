"""The one rule for which URLs the worker may call (endpoints and OAuth token endpoints).

Used when an element is loaded (literal URLs) and when a request is bound (FEEL and secret
URLs), so both stages agree. The reasons never quote the URL: it may carry a secret.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

NOT_HTTP = "must be an absolute http:// or https:// URL"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be called, or None when it can."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        # urlsplit silently drops tabs and newlines (WHATWG rules): a URL that differs
        # from what it shows is refused rather than guessed at.
        return "must be a URL without control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return NOT_HTTP + " (the host is malformed)"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return NOT_HTTP
    return _authority_problem(parts)


def _authority_problem(parts: SplitResult) -> str | None:
    try:
        parts.port  # noqa: B018 - evaluated for its check: non-numeric or out of range
    except ValueError:
        return NOT_HTTP + " (the port is not a number from 0 to 65535)"
    host = parts.hostname or ""
    if any(char.isspace() for char in host):
        return NOT_HTTP + " (the host contains spaces)"
    return None
