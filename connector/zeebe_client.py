"""Connections to the cluster: the Zeebe gRPC channel and the credentials of both APIs.

Every combination Camunda deployments use is built the same way: the transport (plaintext,
TLS with the system trust store, TLS with ``--ca-certificate-path``) is chosen by
:func:`connector.config.load_settings` (an explicit choice wins over inference), and the
credentials (none, basic, OAuth client credentials, SaaS) travel as ``authorization`` call
metadata added by one interceptor. That is how OAuth works over an in-cluster plaintext
gateway, which gRPC's own call credentials refuse to do.

gRPC's native (C-core) logging is switched off by the CLI (:func:`quiet_grpc_logs`) unless
the operator sets ``GRPC_VERBOSITY``: a TLS mismatch would otherwise print one line per
reconnect attempt. The worker explains connection failures itself, once per change (see
:mod:`connector.connection_errors`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import certifi
import grpc
import requests
from pyzeebe import ZeebeClient
from requests.adapters import HTTPAdapter

from connector.config import Settings, split_grpc_address
from connector.connection_errors import Cause, explain_grpc
from connector.discovery import ClusterAuth, ClusterError

KEEPALIVE_MS = 45_000


# ---------------------------------------------------------------------------- REST + tokens


class _TrustAdapter(HTTPAdapter):
    """Trusts the system store *and* the configured CA (the token endpoint may be a public
    identity provider while the cluster uses a private CA)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def cluster_session(ca_certificate_path: str | None) -> requests.Session:
    """A ``requests`` session for the cluster's REST API and token endpoint."""
    session = requests.Session()
    if ca_certificate_path:
        context = ssl.create_default_context()  # the system store
        context.load_verify_locations(cafile=certifi.where())  # slim images may lack one
        context.load_verify_locations(cafile=ca_certificate_path)
        session.mount("https://", _TrustAdapter(context))
    return session


def cluster_auth(settings: Settings) -> ClusterAuth:
    """The credentials of both APIs; OAuth tokens come from the one shared provider."""
    return ClusterAuth(
        method=settings.auth_method,
        username=settings.username,
        password=settings.password,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        token_url=settings.token_url,
        audience=settings.audience,
        scope=settings.scope,
        session=cluster_session(settings.ca_certificate_path),
    )


# ---------------------------------------------------------------------------- gRPC


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class AuthMetadataInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
):
    """Adds ``authorization`` call metadata (basic or bearer) to every unary call.

    With OAuth, a call answered UNAUTHENTICATED is retried once with a fresh token (the
    cached one may have been revoked or expired in flight). A token that cannot be fetched
    fails the call as UNAUTHENTICATED (the endpoint rejected the client) or UNAVAILABLE
    (transient), so callers treat it like any other gateway answer.
    """

    def __init__(self, auth: ClusterAuth) -> None:
        self._auth = auth

    async def _header(self) -> str:
        cached = self._auth.cached_header()
        if cached is not None:
            return cached
        try:
            # A cache miss fetches a token over HTTP: never on the event loop.
            token = await asyncio.to_thread(self._auth.bearer)
        except ClusterError as exc:
            code = grpc.StatusCode.UNAVAILABLE if exc.transient else grpc.StatusCode.UNAUTHENTICATED
            raise _rpc_error(code, str(exc)) from None
        return "Bearer " + token

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        call = await continuation(_with_auth(client_call_details, await self._header()), request)
        if self._auth.method != "oidc":
            return call
        if await call.code() != grpc.StatusCode.UNAUTHENTICATED:
            return call
        self._auth.invalidate()
        return await continuation(_with_auth(client_call_details, await self._header()), request)


def _with_auth(details: Any, value: str) -> Any:
    metadata = [(k, v) for k, v in (details.metadata or ()) if k != "authorization"]
    metadata.append(("authorization", value))
    return details._replace(metadata=metadata)


def grpc_target(settings: Settings) -> str:
    """``host:port`` of the gateway (a scheme in the address only chose TLS)."""
    split = split_grpc_address(settings.grpc_address)
    return split[0] if split else settings.grpc_address


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials (custom CA or the system/gRPC trust store), None for plaintext."""
    if not settings.grpc_tls:
        return None
    if settings.ca_certificate_path:
        with open(settings.ca_certificate_path, "rb") as handle:
            return grpc.ssl_channel_credentials(root_certificates=handle.read())
    return grpc.ssl_channel_credentials()


def build_channel(settings: Settings, auth: ClusterAuth) -> grpc.aio.Channel:
    """The gateway channel for every transport x auth combination."""
    interceptors: Sequence[Any] = [AuthMetadataInterceptor(auth)] if auth.method != "none" else []
    options = [("grpc.keepalive_time_ms", KEEPALIVE_MS)]
    target = grpc_target(settings)
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)


def build_zeebe_client(
    settings: Settings, auth: ClusterAuth | None = None
) -> tuple[ZeebeClient, grpc.aio.Channel]:
    """A pyzeebe client that never gives up reconnecting (long-running worker)."""
    channel = build_channel(settings, auth or cluster_auth(settings))
    return ZeebeClient(channel, max_connection_retries=-1), channel


@dataclass(frozen=True, slots=True)
class Gateway:
    """The worker's Zeebe client and the channel opened for it (None: the client was
    given, and whoever made it closes its channel)."""

    client: ZeebeClient
    channel: grpc.aio.Channel | None = None

    @classmethod
    def open(cls, settings: Settings, auth: ClusterAuth) -> Gateway:
        client, channel = build_zeebe_client(settings, auth)
        return cls(client, channel)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()


def grpc_cause(exc: BaseException, auth_method: str) -> Cause:
    """Why a gRPC call failed, from the exception or any exception it was raised from."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        rpc = getattr(seen, "grpc_error", None) or seen
        if isinstance(rpc, grpc.aio.AioRpcError):
            return explain_grpc(rpc.code().name, rpc.details() or "", auth_method)
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Cause("timed out", "no answer from the gateway")
    return Cause(type(exc).__name__, str(exc)[:200])
