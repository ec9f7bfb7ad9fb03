"""The credentials the development engine's REST API and gRPC gateway demand.

Its own module so that the gateway and the REST server both use it without importing each
other.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import Protocol


class TokenVerifier(Protocol):
    def valid(self, token: str) -> bool: ...


@dataclass(frozen=True)
class AuthConfig:
    """Optional credentials both interfaces demand; no credentials configured = no auth.

    With ``username`` set, HTTP Basic with that user and ``password`` is accepted; with
    ``bearer_token`` set, ``Authorization: Bearer <token>`` is accepted. Both may be set.
    Secrets are kept out of ``repr`` so the config can be logged.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    # OAuth: accept the unexpired tokens this issuer handed out (see devengine.oauth).
    issuer: TokenVerifier | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.username is not None or self.bearer_token is not None or self.issuer is not None

    @property
    def scheme(self) -> str:
        """The challenge to send back (``WWW-Authenticate``) when credentials are missing."""
        return "Basic" if self.username is not None and self.issuer is None else "Bearer"

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value grants access (constant-time compares)."""
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if (
            scheme.lower() == "bearer"
            and self.issuer is not None
            and self.issuer.valid(credentials)
        ):
            return True
        if scheme.lower() == "bearer" and self.bearer_token is not None:
            return hmac.compare_digest(credentials.encode(), self.bearer_token.encode())
        if scheme.lower() == "basic" and self.username is not None:
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                return False
            expected = f"{self.username}:{self.password or ''}".encode()
            return hmac.compare_digest(decoded, expected)
        return False
