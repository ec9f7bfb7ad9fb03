"""Cluster connection failures in words an operator can act on.

gRPC and ``requests`` report the same few root causes (TLS mismatch, untrusted certificate,
refused connection, unknown host, rejected credentials) in many spellings. These pure
functions map them to one short *cause* per root cause, so the worker can log a connectivity
change once per cause (not once per retry) and say what to check. Nothing here sees a secret:
inputs are status codes and library messages.
"""

from __future__ import annotations

from dataclasses import dataclass

TLS_PLAINTEXT_PEER = "TLS handshake failed - is the gateway plaintext? (try --no-grpc-tls)"
TLS_REST_PLAINTEXT_PEER = "TLS handshake failed - is the REST API plain http? (use http://)"
PLAINTEXT_TLS_PEER = "connection closed by the server (does it expect TLS? use https://)"
PLAINTEXT_TLS_GATEWAY = "connection closed by the gateway (does it expect TLS? try --grpc-tls)"
UNTRUSTED = "TLS certificate not trusted - check --ca-certificate-path"
TLS_FAILED = "TLS handshake failed"
REFUSED = "connection refused - is the cluster running and the port right?"
DNS = "DNS lookup failed - check the host name"
TIMEOUT = "timed out"
TOKEN_REJECTED = "token rejected by the cluster - check audience/scope"
NO_CREDENTIALS = "the cluster requires credentials - set a client id/secret or user name"
BASIC_REJECTED = "user name or password rejected"
FORBIDDEN = "permission denied - the client lacks authorizations"
TOKEN_CLIENT = "token endpoint rejected the client - check client id/secret"
TOKEN_FAILED = "token endpoint failed"
# Causes that retrying with the same configuration cannot fix.
AUTH_CAUSES = frozenset(
    {TOKEN_REJECTED, NO_CREDENTIALS, BASIC_REJECTED, FORBIDDEN, TOKEN_CLIENT, TOKEN_FAILED}
)


@dataclass(frozen=True, slots=True)
class Cause:
    """``cause``: stable words naming the root cause; ``detail``: the library's message."""

    cause: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.cause} ({self.detail})" if self.detail else self.cause


def _transport(text: str, *, grpc: bool) -> str | None:
    low = text.lower()
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        return UNTRUSTED
    if "wrong_version_number" in low or "wrong version number" in low or "packet_length" in low:
        return TLS_PLAINTEXT_PEER if grpc else TLS_REST_PLAINTEXT_PEER
    if "handshake" in low or "ssl" in low or "tsi_" in low:
        return TLS_FAILED
    if "dns" in low or "name or service not known" in low or "nameresolution" in low:
        return DNS
    if "nodename nor servname" in low or "temporary failure in name resolution" in low:
        return DNS
    if "connection refused" in low or "econnrefused" in low:
        return REFUSED
    if "remotedisconnected" in low or "connection reset" in low or "socket closed" in low:
        return PLAINTEXT_TLS_GATEWAY if grpc else PLAINTEXT_TLS_PEER
    if "timed out" in low or "timeout" in low or "deadline" in low:
        return TIMEOUT
    return None


def _rejected(auth_method: str, forbidden: bool) -> str:
    if forbidden:
        return FORBIDDEN
    if auth_method == "oidc":
        return TOKEN_REJECTED
    if auth_method == "basic":
        return BASIC_REJECTED
    return NO_CREDENTIALS


def _token_cause(message: str, status: int | None) -> Cause:
    """The token endpoint failed: rejected client, a transport cause, or just failed."""
    if "rejected the client" in message or "invalid_client" in message or status == 401:
        return Cause(TOKEN_CLIENT, message)
    found = _transport(message.replace("token endpoint", ""), grpc=False)
    return Cause(found or TOKEN_FAILED, message)


def explain_grpc(code: str | None, details: str, auth_method: str) -> Cause:
    """``code`` is the status code's name (``"UNAVAILABLE"``); ``details`` its text."""
    details = " ".join(details.split())[:300]
    if details.startswith("token endpoint"):
        return _token_cause(details, None)
    if code == "UNAUTHENTICATED":
        return Cause(_rejected(auth_method, False), details)
    if code == "PERMISSION_DENIED":
        return Cause(FORBIDDEN, details)
    found = _transport(details, grpc=True)
    if found is not None:
        return Cause(found, details)
    return Cause(f"gateway answered {code or 'an error'}", details)


def explain_rest(message: str, status: int | None, auth_method: str) -> Cause:
    """A failed REST call: its ``ClusterError`` message and HTTP status (None = no answer)."""
    if message.startswith("token endpoint"):
        return _token_cause(message, status)
    if status in (401, 403):
        return Cause(_rejected(auth_method, status == 403), message)
    if status is None:
        found = _transport(message, grpc=False)
        if found is not None:
            return Cause(found, message)
        return Cause("cluster unreachable", message)
    return Cause(f"cluster answered HTTP {status}", message)


def describe_token_error(status: int | None, error: str | None, message: str) -> str:
    """The message of a failed token request, starting with ``token endpoint``."""
    if status in (400, 401) and error in (None, "invalid_client", "unauthorized_client"):
        return f"token endpoint rejected the client credentials: {message}"
    if message.startswith("token endpoint"):
        return message
    return f"token endpoint: {message}"


def describe_request_error(exc: BaseException) -> str:
    """``requests`` failure as ``Type: reason`` (the innermost reason, shortened)."""
    reason: BaseException = exc
    seen = 0
    # urllib3 nests the root cause in args/__context__; the innermost one names it best.
    while seen < 5:
        seen += 1
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
            continue
        if reason.args and isinstance(reason.args[0], BaseException):
            reason = reason.args[0]
            continue
        break
    text = " ".join(str(reason).split())[:240]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
