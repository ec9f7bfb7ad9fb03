"""Bind one element's request configuration to one waiting instance.

:func:`bind_request` evaluates the request properties (method, URL, query parameters,
headers, body, authentication, timeouts) with FEEL against the instance's variables, after
replacing secret references, and returns a concrete, immutable :class:`BoundRequest`.
Pure: no I/O besides asking the secret provider.

Errors are :class:`BindingError`; they name the element and the property and never carry
a value (values may hold secrets).
"""

from __future__ import annotations

import decimal
import functools
import json
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from connector import feel
from connector.elements import (
    BODY_METHODS,
    EXPRESSION_BUDGET_SECONDS,
    METHODS,
    ElementConfig,
    Field,
    parse_timeout,
    quote_for_feel,
)
from connector.errors import ElementPropertyError, PropertyError
from connector.feel.convert import to_json_compatible, to_json_text, to_text
from connector.http.auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuthClientCredentials,
    OAuthRefreshToken,
)

# The request type lives in the HTTP layer that sends it; binding builds it (re-exported).
from connector.http.request import DEFAULT_TIMEOUT_SECONDS
from connector.http.request import BoundRequest as BoundRequest
from connector.redaction import register, register_basic
from connector.secrets import SecretNotFoundError, SecretProvider, replace_secrets
from connector.urls import url_problem

log = logging.getLogger(__name__)

# The reference treats this literal password as "no password".
_EMPTY_PASSWORD_MARKER = "SPEC_PASSWORD_EMPTY_PATTERN"


#: Each method's one string (a bound request keeps it, one per waiting instance).
_METHODS = {method: method for method in METHODS}
#: No authentication: one object for every request without (it has no fields).
_NO_AUTH = NoAuth()
#: An empty frozenset is an object of its own (216 bytes), not a shared constant.
_NO_NAMES: frozenset[str] = frozenset()


def _names(names: set[str]) -> frozenset[str]:
    return frozenset(names) if names else _NO_NAMES


class BindingError(ElementPropertyError):
    """A request property could not be bound for one instance."""


def merge_scopes(scopes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge variable scopes, innermost first: an inner variable hides an outer one.

    ``scopes`` is ``[element-local, enclosing sub-process, ..., process]``, as Zeebe
    resolves names.
    """
    merged: dict[str, Any] = {}
    for scope in reversed(scopes):
        merged.update(scope)
    return merged


def bind_request(
    config: ElementConfig, variables: Mapping[str, Any], secrets: SecretProvider
) -> BoundRequest:
    """Evaluate ``config``'s request fields for one instance's (merged) ``variables``.

    Raises :class:`BindingError` naming the element and property on any problem:
    a missing secret, a FEEL result of the wrong type, an invalid URL, etc.
    """
    binder = _Binder(config, variables, secrets)
    method = binder.method()
    headers, secret_headers = binder.sensitive_pairs(config.headers, multi=False)
    query, secret_query = binder.sensitive_pairs(config.query_parameters, multi=True)
    auth = binder.auth()
    if isinstance(auth, ApiKeyAuth):
        (secret_query if auth.location == "query" else secret_headers).add(auth.name)
    body: bytes | None = None
    secret_body = False
    if method in BODY_METHODS and config.body is not None:
        before = len(binder.resolved)
        body, content_type = binder.body(headers)
        secret_body = len(binder.resolved) > before
        if content_type and not any(k.lower() == "content-type" for k, _ in headers):
            headers = (*headers, ("Content-Type", content_type))
    connect = binder.timeout(config.connection_timeout, DEFAULT_TIMEOUT_SECONDS)
    read = binder.timeout(config.read_timeout, connect)
    return BoundRequest(
        method=method,
        url=binder.url(),
        query=query,
        headers=headers,
        body=body,
        auth=auth,
        connect_timeout=connect,
        read_timeout=read,
        follow_redirects=config.follow_redirects,
        skip_encoding=config.skip_encoding,
        # Shared strings and sets: a bound request is kept per waiting instance.
        element=sys.intern(config.label),
        sensitive_headers=_names({name.lower() for name in secret_headers}),
        sensitive_query=_names(secret_query),
        sensitive_body=secret_body,
    )


def evaluate_property(
    expression: feel.Expression,
    context: Mapping[str, Any],
    label: str,
    prop: str,
    *,
    has_secrets: bool = False,
) -> Any:
    """Evaluate an element property's expression within the budget.

    Raises :class:`BindingError` (naming element and property) when the evaluation fails
    as a whole: an unfulfilled ``assert`` or a budget that ran out. When secrets were
    substituted into the expression, an assertion's cause could quote one, so it is
    withheld.
    """
    try:
        return expression.evaluate_checked(context, budget=EXPRESSION_BUDGET_SECONDS)
    except feel.FeelEvaluationError as exc:
        reason = str(exc)
        if has_secrets and not exc.budget_exceeded:
            reason = "assertion failed (cause withheld: the property uses secrets)"
        if exc.budget_exceeded:
            _warn_budget_once(label, prop, reason)
        raise BindingError(label, prop, reason) from None


_budget_warned: set[tuple[str, str]] = set()
_budget_lock = threading.Lock()


def _warn_budget_once(label: str, prop: str, reason: str) -> None:
    """A runaway expression is logged once per element and property, not once per poll."""
    with _budget_lock:
        if (label, prop) in _budget_warned:
            return
        _budget_warned.add((label, prop))
    log.warning("%s property '%s': %s", label, prop, reason)


@functools.lru_cache(maxsize=512)
def _compile_substituted(text: str) -> feel.Expression:
    # FEEL text with secrets is compiled per distinct substituted text, not per poll.
    return feel.compile(text)


class _Binder:
    def __init__(
        self, config: ElementConfig, variables: Mapping[str, Any], secrets: SecretProvider
    ) -> None:
        self.config = config
        self.variables = variables
        self.secrets = _Recording(secrets)
        #: Secret values resolved so far, in order (see :meth:`sensitive_pairs`).
        self.resolved = self.secrets.resolved

    def error(self, prop: str, reason: str) -> BindingError:
        return BindingError(self.config.label, prop, reason)

    def value(self, field_: Field) -> Any:
        """The field's value: FEEL evaluated, or literal text with secrets replaced."""
        prop = field_.name
        if field_.expression is not None:
            return evaluate_property(
                field_.expression, dict(self.variables), self.config.label, prop
            )
        try:
            if field_.is_feel:
                text = replace_secrets(field_.raw, self.secrets, quote=quote_for_feel)
            else:
                return replace_secrets(field_.raw, self.secrets)
        except SecretNotFoundError as exc:
            raise self.error(prop, str(exc)) from None
        try:
            expression = _compile_substituted(text)
        except feel.FeelSyntaxError:
            # The message would quote the text, which now holds secret values.
            raise self.error(prop, "invalid FEEL after secret substitution") from None
        return evaluate_property(
            expression, dict(self.variables), self.config.label, prop, has_secrets=True
        )

    def text(self, field_: Field | None, *, required: bool) -> str | None:
        if field_ is None:
            if required:
                raise self.error("?", "is required")
            return None
        value = self.value(field_)
        if value is None or value == "":
            if required:
                raise self.error(field_.name, "is empty (FEEL gave null or '')")
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | decimal.Decimal):
            return to_text(value)
        if not isinstance(value, str):
            raise self.error(field_.name, f"must be text, not {_type_name(value)}")
        return value

    def method(self) -> str:
        method = (self.text(self.config.method, required=True) or "").strip().upper()
        known = _METHODS.get(method)
        if known is None:
            raise self.error("method", f"'{method[:16]}' is not one of {', '.join(METHODS)}")
        return known

    def url(self) -> str:
        url = (self.text(self.config.url, required=True) or "").strip()
        problem = url_problem(url)
        if problem is not None:
            # No value in the message: the URL may contain a secret.
            raise self.error("url", problem)
        return url

    def structured(self, field_: Field) -> Any:
        """A FEEL value, or a literal that is JSON text (the reference parses those)."""
        value = self.value(field_)
        if not field_.is_feel and isinstance(value, str):
            stripped = value.strip()
            if stripped[:1] in ("{", "["):
                try:
                    return json.loads(stripped)
                except ValueError:
                    return value
        return value

    def pairs(self, field_: Field | None, *, multi: bool) -> tuple[tuple[str, str], ...]:
        if field_ is None:
            return ()
        value = self.structured(field_)
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.error(field_.name, f"must be a context (map), not {_type_name(value)}")
        result: list[tuple[str, str]] = []
        for key, raw in value.items():
            item = to_json_compatible(raw)
            if item is None:  # null, and values without a JSON form (ranges, functions)
                continue
            if isinstance(item, list):
                texts = [to_text(v) for v in item if v is not None]
                if multi:
                    result.extend((str(key), t) for t in texts)
                else:
                    result.append((str(key), ", ".join(texts)))
            else:
                result.append((str(key), to_text(item)))
        return tuple(result)

    def sensitive_pairs(
        self, field_: Field | None, *, multi: bool
    ) -> tuple[tuple[tuple[str, str], ...], set[str]]:
        """:meth:`pairs`, and the names of those that hold a secret value.

        A pair holds a secret when its value contains one resolved for this field. When
        FEEL transformed the secrets beyond recognition, every pair of the field counts.
        """
        before = len(self.resolved)
        result = self.pairs(field_, multi=multi)
        values = [v for v in self.resolved[before:] if v]
        if not values:
            return result, set()
        names = {k for k, v in result if any(secret in v for secret in values)}
        return result, names or {k for k, _ in result}

    def body(self, headers: tuple[tuple[str, str], ...]) -> tuple[bytes | None, str | None]:
        assert self.config.body is not None
        value = self.structured(self.config.body)
        if value is None:
            return None, None
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if isinstance(value, str):
            return value.encode("utf-8"), "application/json"
        if isinstance(value, Mapping) and "x-www-form-urlencoded" in content_type.lower():
            mapped = to_json_compatible(value)
            form = [(str(k), to_text(v)) for k, v in mapped.items() if v is not None]
            return urlencode(form).encode("ascii"), None
        try:
            encoded = to_json_text(value)
        except (TypeError, ValueError):
            raise self.error("body", f"cannot be sent as JSON ({_type_name(value)})") from None
        return encoded.encode("utf-8"), "application/json"

    def timeout(self, field_: Field | None, default: float | None) -> float | None:
        if field_ is None:
            return default
        value = self.value(field_)
        if value is None or value == "":
            return default
        if isinstance(value, decimal.Decimal):
            value = float(value)
        try:
            return parse_timeout(field_.name, value)
        except PropertyError as exc:
            raise self.error(exc.prop, exc.reason) from None

    def auth(self) -> Auth:
        cfg = self.config.auth
        get = self._auth_text
        if cfg.type == "basic":
            password = get("password", required=False) or ""
            if password == _EMPTY_PASSWORD_MARKER:
                password = ""
            username = get("username") or ""
            register_basic(username, password)
            return BasicAuth(username=username, password=password)
        if cfg.type == "bearer":
            token = get("token") or ""
            register(token)
            return BearerAuth(token=token)
        if cfg.type == "apiKey":
            key = ApiKeyAuth(
                location=cfg.api_key_location, name=get("name") or "", value=get("value") or ""
            )
            register(key.value)
            return key
        if cfg.type == "oauth-client-credentials-flow":
            client_id, secret = get("clientId") or "", get("clientSecret") or ""
            register_basic(client_id, secret)  # sent as basic auth to the token endpoint
            return OAuthClientCredentials(
                token_endpoint=self._endpoint(),
                client_id=client_id,
                client_secret=secret,
                audience=get("audience", required=False),
                scopes=get("scopes", required=False),
                client_authentication=cfg.client_authentication,
            )
        if cfg.type == "oauth-refresh-token":
            refresh = OAuthRefreshToken(
                token_endpoint=self._endpoint(),
                client_id=get("clientId") or "",
                refresh_token=get("refreshToken") or "",
                client_secret=get("clientSecret", required=False),
                scopes=get("scopes", required=False),
            )
            register(refresh.refresh_token, refresh.client_secret)
            return refresh
        return _NO_AUTH

    def _auth_text(self, name: str, *, required: bool = True) -> str | None:
        field_ = self.config.auth.fields.get(name)
        if field_ is None:
            if required:
                raise self.error("authentication." + name, "is required")
            return None
        return self.text(field_, required=required)

    def _endpoint(self) -> str:
        url = (self._auth_text("oauthTokenEndpoint") or "").strip()
        problem = url_problem(url)
        if problem is not None:
            raise self.error("authentication.oauthTokenEndpoint", problem)
        return url


class _Recording:
    """A secret provider that remembers the values it handed out (for the markers)."""

    def __init__(self, provider: SecretProvider) -> None:
        self.provider = provider
        self.resolved: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.provider.get(name)
        if value is not None:
            self.resolved.append(value)
        return value


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a context"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | decimal.Decimal):
        return "a number"
    return type(value).__name__
