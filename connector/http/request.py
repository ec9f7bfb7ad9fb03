"""The HTTP layer's request: concrete values, as the client sends them.

Binding (a layer above) evaluates an element's request properties for one waiting instance
and builds a :class:`BoundRequest`; the client sends it and redirects derive new ones from
it. Nothing here knows about elements or FEEL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from dataclasses import dataclass, field
from typing import Any

from connector.http.auth import Auth, NoAuth
from connector.http.response import redact_url

#: Connect and read timeout of a request that sets none (seconds).
DEFAULT_TIMEOUT_SECONDS = 20


@dataclass(frozen=True, slots=True)
class BoundRequest:
    """A concrete HTTP request for one waiting instance.

    ``coalesce_key`` is a digest of everything that goes on the wire (auth included, the
    element excluded): two instances whose requests are identical share it, so one HTTP
    call can serve both. It is a digest so that logging it never leaks a credential.
    """

    method: str
    url: str = field(repr=False)
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = field(default=None, repr=False)
    auth: Auth = field(default_factory=NoAuth)
    connect_timeout: float | None = DEFAULT_TIMEOUT_SECONDS
    read_timeout: float | None = DEFAULT_TIMEOUT_SECONDS
    follow_redirects: bool = False
    skip_encoding: bool = False
    element: str = field(default="", compare=False)
    #: Which parts hold a secret or a credential, so that a redirect to another origin can
    #: drop them: header names (lower case), query parameter names, and the body.
    sensitive_headers: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    sensitive_query: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    sensitive_body: bool = field(default=False, repr=False, compare=False)
    coalesce_key: str = field(default="", init=False, compare=False)
    #: The HTTP client's wire form of this request (what goes on the connection), made on
    #: the first send and reused on every poll while the worker reuses this bound request.
    #: Not part of equality, and lost by ``dataclasses.replace``, so a redirected request
    #: is prepared afresh. Typed loosely: the client owns its shape.
    wire: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalesce_key", _digest(self))

    def __repr__(self) -> str:
        # URL, query, headers and body may all carry credentials.
        return f"BoundRequest({self.method} {self.safe_url}, auth={self.auth!r})"

    @property
    def safe_url(self) -> str:
        """The URL without query string or user info: fit for logs."""
        return redact_url(self.url)


#: The fields that make two requests different: exactly the compared ones, so a new
#: request field is part of the digest by construction. attrgetter reads them all in one
#: C call: the digest runs on every (re-)bind.
DIGEST_FIELDS = tuple(f.name for f in dataclasses.fields(BoundRequest) if f.compare)
_DIGEST_VALUES = operator.attrgetter(*DIGEST_FIELDS)
_AUTH_AT = DIGEST_FIELDS.index("auth")


def _digest(req: BoundRequest) -> str:
    values = list(_DIGEST_VALUES(req))
    # Auth classes differ in kind even when their fields are equal (e.g. no fields).
    values[_AUTH_AT] = (type(req.auth).__name__, _auth_material(req.auth))
    material = repr(tuple(values))
    # 128 bits: no accidental collision among any number of requests a worker makes, in
    # half the bytes of the whole digest (one per waiting instance).
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _auth_material(auth: Auth) -> tuple[Any, ...]:
    # dataclasses.astuple would work too, but slots dataclasses need the explicit fields.
    return tuple(getattr(auth, name) for name in auth.__dataclass_fields__)
