"""Launcher of the development engine: gRPC gateway + REST v2 server + timer driver.

Three ways to run it:

* ``async with DevEngine.start(host, grpc_port=0, rest_port=0) as dev:`` inside a running
  event loop (port 0 = a free port); ``dev.grpc_address``, ``dev.rest_url``, ``dev.engine``.
* ``with DevEngine.run_in_thread(...) as dev:`` for synchronous code: the same, on a
  background thread with its own event loop.
* ``main(argv)``: ``http-polling-connector dev-engine [--grpc-port 26500] [--rest-port 8080]
  [--host 127.0.0.1]`` in the foreground until SIGINT/SIGTERM.

All state lives in memory and is lost when the process stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pyzeebe.proto import gateway_pb2_grpc as pb_grpc

from .clock import Clock
from .contract import DEFAULT_VERSION, VERSION_TRAITS, VERSIONS
from .engine import Engine
from .gateway import DEFAULT_LONG_POLL_MS, AuthInterceptor, GatewayService
from .oauth import TOKEN_PATH, OAuthServerConfig, TokenIssuer, TokenServer
from .rest import DEFAULT_TRUNCATION_LIMIT, AuthConfig, RestApi
from .rest_server import RestServer
from .tls import server_context

__all__ = ["DevEngine", "DevEngineOptions", "OAuthServerConfig", "TlsFiles", "main"]

log = logging.getLogger(__name__)

GATEWAY_SERVICE_NAME = "gateway_protocol.Gateway"
# The timer driver wakes at least this often; timers therefore fire within this much of due.
TICK_INTERVAL_S = 0.05
_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DevEngineOptions:
    """Knobs of a running dev engine; everything is optional and off/neutral by default."""

    auth: AuthConfig = field(default_factory=AuthConfig)
    max_active_instances: int | None = None
    query_visibility_delay_ms: int = 0
    truncation_limit: int = DEFAULT_TRUNCATION_LIMIT
    long_poll_ms: int = DEFAULT_LONG_POLL_MS
    tick_interval_s: float = TICK_INTERVAL_S
    # An OAuth-protected cluster: a client-credentials token endpoint on its own port, and
    # both APIs accept only its unexpired tokens (for the configured audience).
    oauth: OAuthServerConfig | None = None
    token_port: int = 0
    # TLS on all ports with this PEM certificate (chain) and key.
    tls: TlsFiles | None = None
    #: the Camunda minor version whose REST contract and answers are emulated (8.8 or 8.9)
    camunda_version: str = DEFAULT_VERSION

    def __post_init__(self) -> None:
        if self.camunda_version not in VERSIONS:
            raise ValueError(
                f"camunda_version must be one of {', '.join(VERSIONS)}, "
                f"got {self.camunda_version!r}"
            )


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the server certificate (with any intermediates) and its private key."""

    cert_path: str
    key_path: str


class DevEngine:
    """A running engine with its two network interfaces. Create it with ``start``."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        grpc_port: int,
        rest_port: int,
        options: DevEngineOptions,
    ) -> None:
        self.engine = engine
        self.host = host
        self.options = options
        self._requested_grpc_port = grpc_port
        self._requested_rest_port = rest_port
        self._grpc_server: Any = None
        self._health: Any = None
        self._rest: RestServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._token_server: TokenServer | None = None
        self.issuer: TokenIssuer | None = (
            TokenIssuer(options.oauth) if options.oauth is not None else None
        )
        self.grpc_port = 0
        self.rest_port = 0
        self.token_port = 0
        self._outage = _OutageInterceptor()

    @property
    def scheme(self) -> str:
        return "https" if self.options.tls is not None else "http"

    @property
    def token_url(self) -> str | None:
        """The client-credentials token endpoint (None unless ``options.oauth`` is set)."""
        if self._token_server is None:
            return None
        return f"{self.scheme}://{self.host}:{self.token_port}{TOKEN_PATH}"

    def set_gateway_available(self, available: bool) -> None:
        """Test hook: while unavailable, every Gateway call fails with UNAVAILABLE (as
        during a gateway restart); the REST API keeps answering."""
        self._outage.active = not available

    @property
    def grpc_address(self) -> str:
        """``host:port`` for ``pyzeebe.create_insecure_channel(grpc_address=...)``."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def rest_api(self) -> RestApi:
        """The REST handlers (e.g. to record requests in tests); only while running."""
        if self._rest is None:
            raise RuntimeError("the dev engine is not running")
        return self._rest.api

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API (without ``/v2``)."""
        return f"{self.scheme}://{self.host}:{self.rest_port}"

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        rest_port: int = 0,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        options: DevEngineOptions | None = None,
    ) -> AsyncIterator[DevEngine]:
        """Run the dev engine for the duration of the ``async with`` block.

        Pass ``engine`` to serve an existing engine (e.g. one with a ``ManualClock``), or
        ``clock`` to build a fresh one on that clock.
        """
        options = options or DevEngineOptions()
        if engine is None:
            engine = Engine(
                clock,
                max_active_instances=options.max_active_instances,
                query_visibility_delay_ms=options.query_visibility_delay_ms,
                gateway_version=VERSION_TRAITS[options.camunda_version].gateway_version,
            )
        dev = cls(engine, host, grpc_port, rest_port, options)
        await dev._open()
        try:
            yield dev
        finally:
            await dev._close()

    @classmethod
    @contextlib.contextmanager
    def run_in_thread(
        cls,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        rest_port: int = 0,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        options: DevEngineOptions | None = None,
    ) -> Iterator[DevEngine]:
        """``start`` on a background thread with its own event loop, for synchronous callers."""
        ready = threading.Event()
        holder: dict[str, Any] = {}

        async def serve() -> None:
            stop = asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            holder["stop"] = stop
            try:
                async with cls.start(
                    host, grpc_port, rest_port, engine=engine, clock=clock, options=options
                ) as dev:
                    holder["dev"] = dev
                    ready.set()
                    await stop.wait()
            except BaseException as error:
                holder["error"] = error
                raise
            finally:
                ready.set()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(serve())

        thread = threading.Thread(target=run, name="devengine", daemon=True)
        thread.start()
        if not ready.wait(_STARTUP_TIMEOUT_S) or "dev" not in holder:
            error = holder.get("error")
            raise RuntimeError(f"the development engine did not start: {error!r}") from error
        try:
            yield holder["dev"]
        finally:
            holder["loop"].call_soon_threadsafe(holder["stop"].set)
            thread.join(timeout=15)

    async def _open(self) -> None:
        auth = self.options.auth
        if self.issuer is not None:
            auth = dataclasses.replace(auth, issuer=self.issuer)
        tls = self.options.tls
        context = server_context(tls.cert_path, tls.key_path) if tls is not None else None
        interceptors: list[Any] = [self._outage]
        if auth.enabled:
            interceptors.append(AuthInterceptor(auth))
        server = grpc.aio.server(interceptors=interceptors)
        gateway = GatewayService(
            self.engine, host=self.host, long_poll_ms=self.options.long_poll_ms
        )
        pb_grpc.add_GatewayServicer_to_server(gateway, server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = f"{self.host}:{self._requested_grpc_port}"
        try:
            if tls is not None:
                self.grpc_port = server.add_secure_port(address, _grpc_credentials(tls))
            else:
                self.grpc_port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(
                f"cannot bind the gRPC gateway to {self.host}:{self._requested_grpc_port}: {error}"
            ) from error
        gateway.port = self.grpc_port
        await server.start()
        self._grpc_server = server
        serving = health_pb2.HealthCheckResponse.SERVING
        await self._health.set(GATEWAY_SERVICE_NAME, serving)
        await self._health.set("", serving)

        api = RestApi(
            self.engine,
            truncation_limit=self.options.truncation_limit,
            grpc_host=self.host,
            grpc_port=self.grpc_port,
            camunda_version=self.options.camunda_version,
        )
        try:
            self._rest = RestServer(
                api, self.host, self._requested_rest_port, auth=auth, tls=context
            )
            if self.issuer is not None:
                self._token_server = TokenServer(
                    self.issuer, self.host, self.options.token_port, context
                )
        except OSError:
            await server.stop(None)
            if self._rest is not None:
                self._rest.stop()
            raise
        self._rest.start()
        self.rest_port = self._rest.port
        if self._token_server is not None:
            self._token_server.start()
            self.token_port = self._token_server.port
        self._ticker = asyncio.create_task(self._tick_forever(), name="devengine-ticker")
        log.info(
            "Development engine up (Camunda %s contract): gRPC gateway on %s, REST API on %s "
            "(auth %s, TLS %s%s; state in memory)",
            self.options.camunda_version,
            self.grpc_address,
            self.rest_url,
            "oauth" if self.issuer is not None else ("on" if auth.enabled else "off"),
            "on" if tls is not None else "off",
            f", token endpoint {self.token_url}" if self.token_url else "",
        )

    async def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._grpc_server is not None:
            await self._grpc_server.stop(0.5)
        if self._rest is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._rest.stop)
        if self._token_server is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._token_server.stop)
        log.info("Development engine stopped")

    async def _tick_forever(self) -> None:
        """Drive timers, job timeouts, back-offs and message expiry in real time."""
        interval = self.options.tick_interval_s
        while True:
            try:
                self.engine.tick()
            except Exception:  # a failing tick must not stop time for the whole engine
                log.exception("engine tick failed")
            await asyncio.sleep(interval)


def _grpc_credentials(tls: TlsFiles) -> Any:
    with open(tls.key_path, "rb") as key, open(tls.cert_path, "rb") as cert:
        return grpc.ssl_server_credentials([(key.read(), cert.read())])


# ---------------------------------------------------------------------------- CLI


class _OutageInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Answers UNAVAILABLE to Gateway calls while ``active`` (see ``set_gateway_available``)."""

    def __init__(self) -> None:
        self.active = False

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if not self.active or handler is None or not details.method.startswith("/gateway"):
            return handler

        async def unavailable(request: Any, context: Any) -> None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "gateway unavailable (test hook)")

        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(unavailable, **codec)
        return grpc.unary_unary_rpc_method_handler(unavailable, **codec)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="http-polling-connector dev-engine",
        description=(
            "Run the embedded Zeebe-compatible development engine (gRPC gateway + REST v2 API). "
            "State is kept in memory only. Auth secrets may also come from the environment: "
            "DEVENGINE_BASIC_AUTH (user:password) and DEVENGINE_BEARER_TOKEN."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default %(default)s)"
    )
    parser.add_argument(
        "--grpc-port", type=int, default=26500, help="gRPC port (default %(default)s)"
    )
    parser.add_argument(
        "--rest-port", type=int, default=8080, help="REST port (default %(default)s)"
    )
    parser.add_argument(
        "--basic-auth", metavar="USER:PASSWORD", help="require HTTP basic credentials on both APIs"
    )
    parser.add_argument("--bearer-token", metavar="TOKEN", help="require this bearer token")
    parser.add_argument(
        "--oauth-client-id",
        metavar="ID",
        help="serve a client-credentials token endpoint for this client and accept only its "
        "unexpired tokens on both APIs (secret: --oauth-client-secret or "
        "DEVENGINE_OAUTH_CLIENT_SECRET)",
    )
    parser.add_argument("--oauth-client-secret", metavar="SECRET", help=argparse.SUPPRESS)
    parser.add_argument(
        "--oauth-audience",
        metavar="AUDIENCE",
        help="accept only tokens issued for this audience (default: any)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="lifetime of issued tokens (default %(default)s)",
    )
    parser.add_argument(
        "--token-port", type=int, default=18080, help="token endpoint port (default %(default)s)"
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="serve TLS on all ports: certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    parser.add_argument(
        "--max-active-instances",
        type=int,
        help="answer RESOURCE_EXHAUSTED once this many process instances are active",
    )
    parser.add_argument(
        "--query-visibility-delay-ms",
        type=int,
        default=0,
        help="make REST searches see changes only after this delay (eventual consistency)",
    )
    parser.add_argument(
        "--camunda-version",
        default=DEFAULT_VERSION,
        choices=list(VERSIONS),
        help="Camunda version whose REST API v2 contract to enforce and report "
        "(default %(default)s: its newest patch behaviour)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


def _auth_from(args: argparse.Namespace) -> AuthConfig:
    basic = args.basic_auth or os.environ.get("DEVENGINE_BASIC_AUTH")
    token = args.bearer_token or os.environ.get("DEVENGINE_BEARER_TOKEN")
    username = password = None
    if basic:
        username, sep, password = basic.partition(":")
        if not sep or not username:
            raise ValueError("basic auth must be given as USER:PASSWORD")
    return AuthConfig(username=username, password=password, bearer_token=token or None)


def _oauth_from(args: argparse.Namespace) -> OAuthServerConfig | None:
    if not args.oauth_client_id:
        return None
    secret = args.oauth_client_secret or os.environ.get("DEVENGINE_OAUTH_CLIENT_SECRET")
    if not secret:
        raise ValueError(
            "--oauth-client-id needs --oauth-client-secret or DEVENGINE_OAUTH_CLIENT_SECRET"
        )
    if args.token_lifetime <= 0:
        raise ValueError("--token-lifetime must be greater than zero")
    return OAuthServerConfig(
        args.oauth_client_id, secret, args.oauth_audience or None, args.token_lifetime
    )


def _tls_from(args: argparse.Namespace) -> TlsFiles | None:
    if not args.tls_cert and not args.tls_key:
        return None
    if not args.tls_cert or not args.tls_key:
        raise ValueError("--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if not os.path.isfile(path):
            raise ValueError(f"TLS file {path!r} does not exist")
    return TlsFiles(args.tls_cert, args.tls_key)


async def _serve_until_signalled(
    host: str, grpc_port: int, rest_port: int, options: DevEngineOptions
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with DevEngine.start(host, grpc_port, rest_port, options=options):
        await stop.wait()
        log.info("Signal received, shutting down")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dev engine in the foreground; returns the process exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        auth = _auth_from(args)
        oauth = _oauth_from(args)
        tls = _tls_from(args)
    except ValueError as error:
        log.error("%s", error)
        return 2
    options = DevEngineOptions(
        auth=auth,
        oauth=oauth,
        token_port=args.token_port,
        tls=tls,
        max_active_instances=args.max_active_instances,
        query_visibility_delay_ms=args.query_visibility_delay_ms,
        camunda_version=args.camunda_version,
    )
    try:
        asyncio.run(_serve_until_signalled(args.host, args.grpc_port, args.rest_port, options))
    except OSError as error:
        log.error("Cannot start the development engine: %s", error)
        return 1
    return 0
