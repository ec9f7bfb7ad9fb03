"""Resolved authentication settings of one request (values, not expressions).

Each class is frozen and hashable (it is part of a request's coalescing key) and its
``repr`` never shows a credential.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class NoAuth:
    """No authentication."""


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic: ``Authorization: Basic base64(username:password)``."""

    username: str
    password: str = field(default="", repr=False)

    def header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """``Authorization: Bearer <token>``."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """An API key sent as a header or as a query parameter."""

    location: Literal["headers", "query"]
    name: str
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OAuthClientCredentials:
    """OAuth 2.0 client credentials grant; the token is fetched and cached by the client."""

    token_endpoint: str
    client_id: str
    client_secret: str = field(repr=False)
    audience: str | None = None
    scopes: str | None = None
    client_authentication: Literal["basicAuthHeader", "credentialsBody"] = "basicAuthHeader"


@dataclass(frozen=True, slots=True)
class OAuthRefreshToken:
    """OAuth 2.0 refresh token grant; the access token is fetched and cached by the client."""

    token_endpoint: str
    client_id: str
    refresh_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)
    scopes: str | None = None


Auth = NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuthClientCredentials | OAuthRefreshToken
OAuth = OAuthClientCredentials | OAuthRefreshToken
