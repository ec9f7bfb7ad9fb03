"""OAuth 2.0 access tokens: client credentials and refresh token grants, with a cache.

One :class:`TokenProvider` serves both the polled endpoints' OAuth and the cluster's own
credentials (REST and gRPC, through ``discovery.cluster.ClusterAuth``), so there is one cache, one
refresh rule and one backoff for every token the worker holds.

Tokens are cached per credential set until ``expires_in`` minus a margin (at most a quarter
of the lifetime, so short-lived tokens are still reused); a token
without ``expires_in`` is kept until the API answers 401 (then the client invalidates it
and fetches once more). A failing token endpoint is backed off exponentially per
credential set so a broken configuration cannot hammer it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from connector.connection_errors import describe_request_error
from connector.http.auth import BasicAuth, OAuth, OAuthClientCredentials, OAuthRefreshToken
from connector.http.response import OAuthError, excerpt, redact_url
from connector.redaction import register

MAX_CACHED_TOKENS = 1000


@dataclass(slots=True)
class _Entry:
    token: str
    expires_at: float | None  # monotonic seconds; None = until invalidated


@dataclass(slots=True)
class _Failure:
    count: int
    retry_at: float
    error: OAuthError


def cache_key(auth: OAuth) -> str:
    """A digest of every field that selects a token (credentials included, never shown)."""
    fields = tuple(getattr(auth, name) for name in auth.__dataclass_fields__)
    return hashlib.sha256(repr((type(auth).__name__, fields)).encode()).hexdigest()


class TokenProvider:
    """Fetches and caches OAuth access tokens. Thread-safe."""

    def __init__(
        self,
        *,
        margin_seconds: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.margin_seconds = margin_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Entry] = {}
        self._failures: dict[str, _Failure] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    def token(
        self,
        auth: OAuth,
        session: requests.Session,
        *,
        timeout: tuple[float | None, float | None],
        verify: bool | str,
    ) -> str:
        """A valid access token for ``auth``, from the cache or the token endpoint."""
        key = cache_key(auth)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._key_lock(key):
            # Another thread may have fetched it while we waited.
            cached = self._cached(key)
            if cached is not None:
                return cached
            self._check_backoff(key)
            try:
                token, expires_in = fetch_token(auth, session, timeout=timeout, verify=verify)
            except OAuthError as exc:
                self._record_failure(key, exc)
                raise
            self._store(key, token, expires_in)
            return token

    def cached(self, auth: OAuth) -> str | None:
        """The cached, unexpired token of ``auth`` without any I/O (None = fetch it)."""
        return self._cached(cache_key(auth))

    def invalidate(self, auth: OAuth) -> None:
        """Forget the cached token of ``auth`` (after the API rejected it)."""
        with self._lock:
            self._tokens.pop(cache_key(auth), None)

    def _cached(self, key: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(key)
            if entry is None:
                return None
            if entry.expires_at is not None and self._clock() >= entry.expires_at:
                del self._tokens[key]
                return None
            return entry.token

    def _store(self, key: str, token: str, expires_in: float | None) -> None:
        now = self._clock()
        if expires_in is not None:
            lifetime = expires_in - min(self.margin_seconds, expires_in / 4)
            if lifetime <= 0:
                return  # would be stale at once: do not cache
            expires_at: float | None = now + lifetime
        else:
            expires_at = None
        with self._lock:
            self._failures.pop(key, None)
            if len(self._tokens) >= MAX_CACHED_TOKENS:
                self._evict(now)
            self._tokens[key] = _Entry(token, expires_at)

    def _evict(self, now: float) -> None:
        expired = [k for k, e in self._tokens.items() if e.expires_at and e.expires_at <= now]
        for k in expired:
            del self._tokens[k]
        while len(self._tokens) >= MAX_CACHED_TOKENS:
            del self._tokens[next(iter(self._tokens))]

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _check_backoff(self, key: str) -> None:
        with self._lock:
            failure = self._failures.get(key)
        if failure is not None and self._clock() < failure.retry_at:
            wait = failure.retry_at - self._clock()
            raise OAuthError(
                f"token endpoint failed recently ({failure.error}); next attempt in {wait:.0f}s",
                error=failure.error.error,
                status=failure.error.status,
                url=failure.error.url,
            )

    def _record_failure(self, key: str, error: OAuthError) -> None:
        with self._lock:
            previous = self._failures.get(key)
            count = previous.count + 1 if previous else 1
            delay = min(self.backoff_max, self.backoff_initial * 2 ** (count - 1))
            self._failures[key] = _Failure(count, self._clock() + delay, error)


def token_request(auth: OAuth) -> tuple[dict[str, str], dict[str, str]]:
    """The form fields and headers of the token request for ``auth``."""
    headers = {"Accept": "application/json"}
    form: dict[str, str] = {}
    if isinstance(auth, OAuthClientCredentials):
        form["grant_type"] = "client_credentials"
        if auth.audience:
            form["audience"] = auth.audience
        if auth.scopes and auth.scopes.strip():
            form["scope"] = auth.scopes.strip()
        if auth.client_authentication == "credentialsBody":
            form["client_id"] = auth.client_id
            form["client_secret"] = auth.client_secret
        else:
            headers["Authorization"] = BasicAuth(auth.client_id, auth.client_secret).header()
    elif isinstance(auth, OAuthRefreshToken):
        form["grant_type"] = "refresh_token"
        form["client_id"] = auth.client_id
        form["refresh_token"] = auth.refresh_token
        if auth.client_secret:
            form["client_secret"] = auth.client_secret
        if auth.scopes and auth.scopes.strip():
            form["scope"] = auth.scopes.strip()
    return form, headers


def fetch_token(
    auth: OAuth,
    session: requests.Session,
    *,
    timeout: tuple[float | None, float | None],
    verify: bool | str,
) -> tuple[str, float | None]:
    """POST to the token endpoint; return ``(access_token, expires_in or None)``."""
    url = redact_url(auth.token_endpoint)
    form, headers = token_request(auth)
    try:
        response = session.post(
            auth.token_endpoint,
            data=form,
            headers=headers,
            timeout=timeout,
            verify=verify,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # The reason names TLS, DNS or refused connections; it never holds the form (secrets).
        reason = describe_request_error(exc)
        raise OAuthError(f"token endpoint unreachable: {reason}", url=url) from None
    content = response.content[:65536]
    payload: Any = None
    try:
        payload = json.loads(content) if content.strip() else None
    except ValueError:
        payload = None
    if response.status_code >= 400:
        error = payload.get("error") if isinstance(payload, dict) else None
        detail = f" ({error})" if isinstance(error, str) else ""
        raise OAuthError(
            f"token endpoint answered HTTP {response.status_code}{detail}: "
            f"{excerpt(content, response.headers.get('Content-Type'))}",
            error=error if isinstance(error, str) else None,
            status=response.status_code,
            url=url,
        )
    token = _find(payload, "access_token")
    if not isinstance(token, str) or not token:
        raise OAuthError("token endpoint response has no access_token", url=url)
    # Access (and rotated refresh) tokens are credentials like the client secret.
    refresh = _find(payload, "refresh_token")
    register(token, refresh if isinstance(refresh, str) else None)
    expires = _find(payload, "expires_in")
    return token, _seconds(expires)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value)
    return None


def _find(payload: Any, name: str) -> Any:
    """The first value of ``name`` anywhere in the JSON (some servers nest the token)."""
    if isinstance(payload, dict):
        if name in payload:
            return payload[name]
        for value in payload.values():
            found = _find(value, name)
            if found is not None:
                return found
    elif isinstance(payload, list):
        for value in payload:
            found = _find(value, name)
            if found is not None:
                return found
    return None


# Shared by every part of the worker that needs tokens (one cache, one backoff per identity).
# The backoff stops at a minute so a recovered identity provider is used again soon.
SHARED_PROVIDER = TokenProvider(backoff_max=60.0)
