"""HTTP for polls: a pooled client, authentication, OAuth tokens, the response model."""

from connector.http.auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuthClientCredentials,
    OAuthRefreshToken,
)
from connector.http.client import DEFAULT_MAX_RESPONSE_BYTES, HttpClient
from connector.http.oauth import TokenProvider
from connector.http.request import BoundRequest
from connector.http.response import (
    HttpError,
    HttpResponse,
    HttpStatusError,
    HttpTransportError,
    OAuthError,
    redact_url,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "BoundRequest",
    "HttpClient",
    "HttpError",
    "HttpResponse",
    "HttpStatusError",
    "HttpTransportError",
    "NoAuth",
    "OAuthClientCredentials",
    "OAuthError",
    "OAuthRefreshToken",
    "TokenProvider",
    "redact_url",
]
