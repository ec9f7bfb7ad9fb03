"""Typed, validated configuration of each HTTP polling element.

:func:`load_elements` turns the raw ``zeebe:property`` values found by
:mod:`connector.bpmn` into frozen :class:`ElementConfig` objects: durations parsed,
enumerations checked, required properties present and every FEEL expression compiled once.
A badly configured element yields :class:`~connector.errors.ElementConfigError` values
(process, element, property, reason) and is skipped; the other elements of the diagram
still load.

Property names are those of Camunda's HTTP polling templates (all versions) and of ours.
:data:`PROPERTIES` lists each once (name, field, parser, stage, default, bound request
field); the known names, the builder loop, the request fields, ``uses_secrets`` and the
coalescing digest (:mod:`connector.binding`) derive from it. Adding a property is one row,
its ElementConfig field, the templates, and the code that uses it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import isodate
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField

from connector import feel
from connector.bpmn import (
    POLLING_TYPE,
    Document,
    ElementKind,
    PollingElement,
    UnsupportedElement,
    find_polling_elements,
)

# Defined in the error tree; importable from here as before.
from connector.errors import ElementConfigError as ElementConfigError
from connector.errors import PropertyError as PropertyError
from connector.http.request import DEFAULT_TIMEOUT_SECONDS as DEFAULT_TIMEOUT_SECONDS
from connector.secrets import SECRET_PATTERN, has_secrets
from connector.urls import url_problem

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = dt.timedelta(seconds=50)
DEFAULT_MESSAGE_TTL = dt.timedelta(hours=1)
#: Wall-clock seconds one evaluation of an element expression may take (the FEEL engine
#: also bounds the strings and lists it builds). A runaway expression fails with a clear
#: error instead of holding a worker thread; legitimate connector expressions need
#: microseconds to milliseconds.
EXPRESSION_BUDGET_SECONDS = 1.0

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Methods that carry a request body (others ignore ``body``, as the reference does).
BODY_METHODS = ("POST", "PUT", "PATCH")

AuthType = Literal[
    "noAuth", "basic", "bearer", "apiKey", "oauth-client-credentials-flow", "oauth-refresh-token"
]
#: The authentication types, in the order error messages list them (derived from AuthType).
AUTH_TYPES: tuple[str, ...] = get_args(AuthType)

#: Per authentication type: (required properties, optional properties), by their
#: ``zeebe:property`` names without the ``authentication.`` prefix.
AUTH_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "noAuth": ((), ()),
    "basic": (("username",), ("password",)),
    "bearer": (("token",), ()),
    "apiKey": (("name", "value"), ("apiKeyLocation",)),
    "oauth-client-credentials-flow": (
        ("oauthTokenEndpoint", "clientId", "clientSecret"),
        ("audience", "scopes", "clientAuthentication"),
    ),
    "oauth-refresh-token": (
        ("oauthTokenEndpoint", "clientId", "refreshToken"),
        ("clientSecret", "scopes"),
    ),
}
#: Names the correlation expressions see from the response; they hide instance variables.
RESPONSE_NAMES = frozenset({"body", "status", "headers", "reason", "response"})
API_KEY_LOCATIONS = ("headers", "query")
CLIENT_AUTHENTICATIONS = ("basicAuthHeader", "credentialsBody")
_VARIABLE_NAME = re.compile(r"[^\W\d][\w$]*")


@dataclass(frozen=True, slots=True)
class Field:
    """One property value: literal text, or a FEEL expression (leading ``=``).

    ``expression`` is the compiled FEEL when the text is FEEL and holds no secret
    reference. FEEL text with secret references is syntax-checked at load time and
    compiled after substitution at binding time (see :mod:`connector.binding`).
    """

    name: str
    raw: str
    expression: feel.Expression | None = None
    #: Root names of the instance variables the value may read (none for literal text).
    names: frozenset[str] = frozenset()

    @property
    def is_feel(self) -> bool:
        return self.raw.lstrip().startswith("=")

    @property
    def has_secrets(self) -> bool:
        return has_secrets(self.raw)

    def __repr__(self) -> str:
        # The raw text may embed a literal credential; never print it.
        kind = "feel" if self.is_feel else "literal"
        return f"Field({self.name!r}, {kind})"


class AuthConfig(BaseModel):
    """Authentication as configured: its type plus the fields that type uses."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    type: AuthType = "noAuth"
    fields: dict[str, Field] = {}
    api_key_location: Literal["headers", "query"] = "headers"
    client_authentication: Literal["basicAuthHeader", "credentialsBody"] = "basicAuthHeader"


class ElementConfig(BaseModel):
    """The validated configuration of one polling element (immutable).

    Request fields (``method`` .. ``read_timeout``, ``auth``) are bound per waiting
    instance by :func:`connector.binding.bind_request`; the correlation fields
    (``activation_condition`` .. ``result_expression``) are evaluated per response by
    :func:`connector.correlation.evaluate_response`.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: str = ""
    process_id: str
    element_id: str
    element_name: str | None = None
    kind: ElementKind
    attached_to: str | None = None
    #: False for a non-interrupting boundary event: it fires on every matching poll while its
    #: activity runs (Zeebe's message id de-duplication limits it to once per TTL by default)
    interrupting: bool = True
    message_name: str
    subscription_correlation_key: str | None = None

    method: Field
    url: Field
    query_parameters: Field | None = None
    headers: Field | None = None
    body: Field | None = None
    auth: AuthConfig = AuthConfig()
    connection_timeout: Field | None = None
    read_timeout: Field | None = None
    follow_redirects: bool = False
    skip_encoding: bool = False

    interval: dt.timedelta = DEFAULT_INTERVAL
    #: ``processPollingInterval``: how soon new instances must be found (None: the worker's)
    discovery_interval: dt.timedelta | None = None

    activation_condition: feel.Expression | None = None
    correlation_key_expression: feel.Expression
    message_id_expression: feel.Expression | None = None
    message_ttl: dt.timedelta | None = None
    result_variable: str | None = None
    result_expression: feel.Expression | None = None

    #: True when any request field is FEEL. False means every instance sends the same
    #: request; ``request_variable_names`` tells which variables the FEEL actually reads.
    request_uses_variables: bool = False
    #: Root names of the instance variables the request fields may read.
    request_variable_names: frozenset[str] = frozenset()
    #: True when any request field holds a secret reference: its bound request must be
    #: re-bound from time to time so that a rotated secret takes effect.
    uses_secrets: bool = False
    #: Root names of the instance variables any expression of the element may read: the
    #: request's, and the correlation fields' except the response names (the response
    #: hides variables of the same name). Computed once, from the syntax trees.
    variable_names: frozenset[str] = frozenset()
    #: The raw ``zeebe:property`` values (may hold literal credentials: never log them).
    properties: dict[str, str] = PydanticField(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """``process 'p' element 'e'`` for log lines and errors."""
        return f"process '{self.process_id}' element '{self.element_id}'"

    @property
    def needs_variables(self) -> bool:
        """Whether a poll must read the instance's current variables first."""
        return bool(self.variable_names)

    @property
    def effective_message_ttl(self) -> dt.timedelta:
        return self.message_ttl if self.message_ttl is not None else DEFAULT_MESSAGE_TTL


def load_elements(
    xml: Document, *, source: str = "", warnings: list[str] | None = None
) -> tuple[list[ElementConfig], list[ElementConfigError]]:
    """Parse ``xml`` and validate every polling element in it.

    Returns the valid configurations and the errors of the invalid ones. An unreadable
    document raises :class:`connector.bpmn.BpmnError`. Elements that use another version
    of the polling type are not served; each gets a warning line, appended to
    ``warnings`` when given, else logged.
    """
    configs: list[ElementConfig] = []
    errors: list[ElementConfigError] = []
    unsupported: list[UnsupportedElement] = []
    elements = find_polling_elements(xml, unsupported)
    for other in unsupported:
        text = unsupported_warning(other, source)
        if warnings is not None:
            warnings.append(text)
        else:
            log.warning("%s", text, extra={"fields": {"element_id": other.element_id}})
    for element in elements:
        config, element_errors = build_config(element, source=source)
        if config is not None:
            configs.append(config)
        errors.extend(element_errors)
    return configs, errors


def unsupported_warning(element: UnsupportedElement, source: str = "") -> str:
    """Why an element with another version of the polling type is not served."""
    where = f"{source}: " if source else ""
    return (
        f"{where}process '{element.process_id}' element '{element.element_id}' property "
        f"'inbound.type': '{element.inbound_type[:64]}' is not supported by this worker "
        f"(it serves '{POLLING_TYPE}'); the element is not polled"
    )


def build_config(
    element: PollingElement, *, source: str = ""
) -> tuple[ElementConfig | None, list[ElementConfigError]]:
    """Validate one element. Collects every problem rather than stopping at the first."""
    builder = _Builder(element)
    values = builder.build()
    errors = [
        ElementConfigError(element.process_id, element.element_id, prop, reason, source)
        for prop, reason in builder.problems
    ]
    if errors:
        return None, errors
    try:
        return ElementConfig(source=source, **values), []
    except ValidationError as exc:  # a gap in the checks above must not crash discovery
        reason = "; ".join(str(err["msg"]) for err in exc.errors())
        return None, [
            ElementConfigError(element.process_id, element.element_id, "?", reason, source)
        ]


# -- building -----------------------------------------------------------------------------


class _Builder:
    """Collects validated values and problems for one element."""

    def __init__(self, element: PollingElement) -> None:
        self.element = element
        self.props = element.properties
        self.problems: list[tuple[str, str]] = []

    def build(self) -> dict[str, Any]:
        e = self.element
        values: dict[str, Any] = {
            "process_id": e.process_id,
            "element_id": e.element_id,
            "element_name": e.element_name,
            "kind": e.kind,
            "attached_to": e.attached_to,
            "interrupting": e.interrupting,
            "message_name": self._message_name(),
            "subscription_correlation_key": e.subscription_correlation_key,
            "properties": dict(self.props),
        }
        if e.kind == "boundary" and not e.attached_to:
            self.problems.append(("attachedToRef", "boundary event is not attached to anything"))
        for prop in PROPERTIES:
            if prop.parse is None:
                continue  # checked elsewhere (inbound.type) or read by another row's parser
            value = self._guard(prop.name, lambda p=prop: p.parse(self, p))
            if prop.field is not None:
                values[prop.field] = value
        fields = request_fields(values)
        values["request_uses_variables"] = any(f.is_feel for f in fields)
        values["uses_secrets"] = any(f.has_secrets for f in fields)
        request_names = frozenset().union(*(f.names for f in fields))
        values["request_variable_names"] = request_names
        correlation = [values.get(k) for k in CORRELATION_FIELDS]
        values["variable_names"] = request_names | (
            frozenset().union(
                *(e.free_names for e in correlation if isinstance(e, feel.Expression))
            )
            - RESPONSE_NAMES
        )
        return values

    def _guard(self, prop: str, fn: Any) -> Any:
        try:
            return fn()
        except PropertyError as exc:
            self.problems.append((exc.prop, exc.reason))
            return None

    def _text(self, prop: str) -> str | None:
        """The property's text, or None when absent or blank."""
        value = self.props.get(prop)
        if value is None or not value.strip():
            return None
        return value.strip()

    def _message_name(self) -> str | None:
        name = self.element.message_name
        if name is None or not name.strip():
            self.problems.append(("message", "the element has no message with a name"))
            return None
        if name.strip().startswith("="):
            # Zeebe evaluates a FEEL message name per instance; we publish one fixed name.
            self.problems.append(("message", "FEEL message names are not supported"))
            return None
        return name.strip()

    # -- the parsers of the table's rows: each reads its row's property --------------------

    def method(self, p: Property) -> Field:
        text = self._text(p.name) or p.default
        if not text.startswith("=") and text.upper() not in METHODS:
            raise PropertyError(
                p.name, f"'{text}' is not one of {', '.join(METHODS)} (or a FEEL expression)"
            )
        if text.startswith("="):
            return _field(p.name, text)
        return Field(p.name, text.upper())

    def url(self, p: Property) -> Field:
        text = self._text(p.name)
        if text is None:
            raise PropertyError(p.name, "is required")
        field = _field(p.name, text)
        if not field.is_feel and not field.has_secrets:
            _check_url(p.name, text)
        return field

    def text_field(self, p: Property) -> Field | None:
        text = self._text(p.name)
        return _field(p.name, text) if text is not None else None

    def timeout_field(self, p: Property) -> Field | None:
        field = self.text_field(p)
        _check_literal_timeout(p.name, field)
        return field

    def boolean(self, p: Property) -> bool:
        text = self._text(p.name)
        if text is None:
            return bool(p.default)
        lowered = text.lower()
        if lowered in ("true", "=true"):
            return True
        if lowered in ("false", "=false"):
            return False
        raise PropertyError(p.name, f"must be true or false, not '{text}'")

    def positive_duration(self, p: Property) -> dt.timedelta | None:
        return self._duration(p, positive=True)

    def duration(self, p: Property) -> dt.timedelta | None:
        return self._duration(p, positive=False)

    def _duration(self, p: Property, *, positive: bool) -> dt.timedelta | None:
        text = self._text(p.name)
        if text is None:
            default: dt.timedelta | None = p.default
            return default
        value: Any = text
        if text.startswith("="):
            # No instance is known here (as in the reference): constants only.
            value = _compile(p.name, text).evaluate({})
        duration = _to_timedelta(p.name, value)
        if duration < dt.timedelta(0) or (positive and duration == dt.timedelta(0)):
            raise PropertyError(p.name, f"must be {'positive' if positive else 'zero or more'}")
        return duration

    def expression(self, p: Property) -> feel.Expression | None:
        return self._expression(p.name, required=False)

    def required_expression(self, p: Property) -> feel.Expression | None:
        return self._expression(p.name, required=True)

    def _expression(self, prop: str, *, required: bool) -> feel.Expression | None:
        text = self._text(prop)
        if text is None:
            if required:
                raise PropertyError(prop, "is required")
            return None
        if has_secrets(text):
            raise PropertyError(prop, "secrets are only allowed in request properties")
        return _compile(prop, text)

    def result_variable(self, p: Property) -> str | None:
        text = self._text(p.name)
        if text is None:
            return None
        if not _VARIABLE_NAME.fullmatch(text):
            raise PropertyError(p.name, f"'{text}' is not a variable name")
        return text

    def credential_configuration(self, p: Property) -> None:
        if self._text(p.name):
            raise PropertyError(
                p.name,
                "credential configurations are not supported; configure the authentication "
                "on the element",
            )

    def auth(self, p: Property) -> AuthConfig:
        """The ``authentication.*`` group: the type's row reads the others' properties too."""
        auth_type = self._text(p.name) or p.default
        if auth_type not in AUTH_TYPES:
            raise PropertyError(
                "authentication.type", f"'{auth_type}' is not one of {', '.join(AUTH_TYPES)}"
            )
        required, optional = AUTH_FIELDS[auth_type]
        fields: dict[str, Field] = {}
        missing = False
        for name in (*required, *optional):
            prop = "authentication." + name
            text = self._text(prop)
            if text is None:
                if name in required:
                    self.problems.append((prop, f"is required for authentication '{auth_type}'"))
                    missing = True
                continue
            field = self._guard(prop, lambda p=prop, t=text: _field(p, t))
            if field is not None:
                fields[name] = field
        location = self._choice("authentication.apiKeyLocation", API_KEY_LOCATIONS, "headers")
        client_auth = self._choice(
            "authentication.clientAuthentication", CLIENT_AUTHENTICATIONS, "basicAuthHeader"
        )
        if missing:
            raise PropertyError("authentication.type", f"incomplete '{auth_type}' configuration")
        fields.pop("apiKeyLocation", None)
        fields.pop("clientAuthentication", None)
        return AuthConfig(
            type=auth_type,  # type: ignore[arg-type]
            fields=fields,
            api_key_location=location,  # type: ignore[arg-type]
            client_authentication=client_auth,  # type: ignore[arg-type]
        )

    def _choice(self, prop: str, choices: tuple[str, ...], default: str) -> str:
        text = self._text(prop)
        if text is None:
            return default
        if text not in choices:
            self.problems.append((prop, f"'{text}' is not one of {', '.join(choices)}"))
            return default
        return text


# -- the property table -------------------------------------------------------------------

#: When a property is used: bound per instance into the HTTP request, evaluated per
#: response, used when publishing, used by the poll scheduler, or accepted and ignored.
Stage = Literal["request", "response", "publish", "schedule", "ignored"]
Parser = Callable[["_Builder", "Property"], Any]


@dataclass(frozen=True, slots=True)
class Property:
    """One ``zeebe:property`` the worker understands: one row of :data:`PROPERTIES`."""

    #: The ``zeebe:property`` name, as in the element templates.
    name: str
    #: The :class:`ElementConfig` attribute it fills (None: read by another row's parser,
    #: or not stored).
    field: str | None
    #: Validates the text and returns the attribute's value; raises :class:`PropertyError`.
    #: None when another row's parser reads the property (the authentication group).
    parse: Parser | None
    stage: Stage
    #: The value when the property is absent or blank.
    default: Any = None
    #: The :class:`connector.http.request.BoundRequest` attribute the bound value goes to;
    #: every one of them takes part in request equality and in the coalescing digest.
    bound: str | None = None
    #: Whether our element templates offer it (False: accepted for older diagrams only).
    in_template: bool = True


def _auth_rows() -> tuple[Property, ...]:
    """The ``authentication.*`` properties other than the type: read by :func:`_Builder.auth`."""
    names = dict.fromkeys(n for fields in AUTH_FIELDS.values() for group in fields for n in group)
    return tuple(Property("authentication." + n, None, None, "request") for n in names)


#: Every ``zeebe:property`` the worker understands (Camunda's templates, all versions, and
#: ours), once. Rows are parsed in this order, so problems are reported in this order.
#: Columns: name, ElementConfig field, parser, stage, default, BoundRequest field.
P, B = Property, _Builder
# fmt: off
PROPERTIES: tuple[Property, ...] = (
    # Checked by connector.bpmn, which selects the elements by it.
    P("inbound.type",                 None,                          None,                        "ignored"),
    P("method",                       "method",                      B.method,                    "request", "GET", "method"),
    P("url",                          "url",                         B.url,                       "request", None, "url"),
    P("queryParameters",              "query_parameters",            B.text_field,                "request", None, "query"),
    P("headers",                      "headers",                     B.text_field,                "request", None, "headers"),
    P("body",                         "body",                        B.text_field,                "request", None, "body"),
    P("connectionTimeoutInSeconds",   "connection_timeout",          B.timeout_field,             "request", None, "connect_timeout"),
    P("readTimeoutInSeconds",         "read_timeout",                B.timeout_field,             "request", None, "read_timeout"),
    P("authentication.type",          "auth",                        B.auth,                      "request", "noAuth", "auth"),
    *_auth_rows(),  # the other authentication.* properties, read by B.auth
    P("followRedirects",              "follow_redirects",            B.boolean,                   "request", False, "follow_redirects"),
    P("skipEncoding",                 "skip_encoding",               B.boolean,                   "request", False, "skip_encoding"),
    P("httpRequestInterval",          "interval",                    B.positive_duration,         "schedule", DEFAULT_INTERVAL),
    # How soon new instances must be found: the incremental discovery runs at the smallest
    # interval of the live elements (bounded below by --min-discovery-interval).
    P("processPollingInterval",       "discovery_interval",          B.positive_duration,         "schedule", in_template=False),
    # Accepted and ignored: the Operate source runs at the worker's discovery interval.
    P("operatePollingInterval",       None,                          None,                        "ignored", in_template=False),
    P("activationCondition",          "activation_condition",        B.expression,                "response"),
    P("correlationKeyExpression",     "correlation_key_expression",  B.required_expression,       "response"),
    P("messageIdExpression",          "message_id_expression",       B.expression,                "response"),
    # None: DEFAULT_MESSAGE_TTL.
    P("messageTtl",                   "message_ttl",                 B.duration,                  "publish"),
    P("resultVariable",               "result_variable",             B.result_variable,           "response"),
    P("resultExpression",             "result_expression",           B.expression,                "response"),
    # Rejected when set.
    P("authenticationConfiguration",  None,                          B.credential_configuration,  "ignored", in_template=False),
)
# fmt: on

#: Every ``zeebe:property`` name the worker understands.
KNOWN_PROPERTIES = frozenset(p.name for p in PROPERTIES)
#: ElementConfig attributes bound per instance into the HTTP request.
REQUEST_FIELDS = tuple(p.field for p in PROPERTIES if p.stage == "request" and p.field)
#: BoundRequest attributes that make two requests different (equality, coalescing digest).
BOUND_FIELDS = tuple(p.bound for p in PROPERTIES if p.bound)
#: ElementConfig attributes holding FEEL evaluated per response (see connector.correlation).
CORRELATION_FIELDS = tuple(
    p.field for p in PROPERTIES if p.field and p.parse in (B.expression, B.required_expression)
)
del P, B  # short names for the table only


def request_fields(values: Mapping[str, Any]) -> list[Field]:
    """The :class:`Field` values of the request attributes in ``values``, auth included."""
    fields: list[Field] = []
    for name in REQUEST_FIELDS:
        value = values.get(name)
        if isinstance(value, Field):
            fields.append(value)
        elif isinstance(value, AuthConfig):
            fields.extend(value.fields.values())
    return fields


def _field(prop: str, text: str) -> Field:
    """A Field for ``text``; FEEL is compiled (or syntax-checked, when it holds secrets)."""
    if not text.lstrip().startswith("="):
        return Field(prop, text)
    if has_secrets(text):
        # Check the syntax with a harmless stand-in for each secret; the real text is
        # compiled after substitution, per binding.
        stand_in = SECRET_PATTERN.sub(lambda m: quote_for_feel("x", text, m.start()), text)
        return Field(prop, text, names=_compile(prop, stand_in).free_names)
    expression = _compile(prop, text)
    return Field(prop, text, expression, expression.free_names)


def _compile(prop: str, text: str) -> feel.Expression:
    try:
        return feel.compile(text)
    except feel.FeelSyntaxError as exc:
        raise PropertyError(
            prop, f"invalid FEEL at line {exc.line}, column {exc.column}: expected {exc.expected}"
        ) from None


def quote_for_feel(value: str, text: str, position: int) -> str:
    """Render a secret ``value`` for the FEEL ``text`` at ``position``.

    Inside a string literal the value is escaped; outside it becomes a string literal,
    so ``= "Bearer " + secrets.TOKEN`` and ``= "Bearer {{secrets.TOKEN}}"`` both work.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return escaped if _inside_string(text, position) else f'"{escaped}"'


def _inside_string(text: str, position: int) -> bool:
    inside = False
    i = 0
    while i < position:
        char = text[i]
        if inside and char == "\\":
            i += 2
            continue
        if char == '"':
            inside = not inside
        i += 1
    return inside


def _check_url(prop: str, url: str) -> None:
    problem = url_problem(url)
    if problem is not None:
        raise PropertyError(prop, problem)


def _check_literal_timeout(prop: str, field: Field | None) -> None:
    if field is None or field.is_feel or field.has_secrets:
        return
    parse_timeout(prop, field.raw)


def parse_timeout(prop: str, value: Any) -> float | None:
    """Seconds as a float, ``None`` for 0 (no timeout). Raises ValueError-like errors."""
    if isinstance(value, bool):
        raise PropertyError(prop, "must be a number of seconds")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise PropertyError(prop, f"'{value}' is not a number of seconds") from None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise PropertyError(prop, "must be a number of seconds") from None
    if seconds < 0 or seconds != seconds:
        raise PropertyError(prop, "must be zero or more seconds")
    return None if seconds == 0 else seconds


def _to_timedelta(prop: str, value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if not isinstance(value, str):
        raise PropertyError(prop, "must be an ISO 8601 duration such as PT50S")
    try:
        parsed = isodate.parse_duration(value.strip())
    except (isodate.ISO8601Error, ValueError, OverflowError):
        raise PropertyError(prop, f"'{value}' is not an ISO 8601 duration such as PT50S") from None
    if isinstance(parsed, dt.timedelta):
        return parsed
    if parsed.years or parsed.months:
        raise PropertyError(prop, "years and months are ambiguous; use days (P30D) instead")
    result = parsed.tdelta
    assert isinstance(result, dt.timedelta)
    return result
