"""Worker configuration: command-line flags > environment variables > defaults.

Every setting has one canonical field on :class:`Settings`, one command-line flag and a list
of environment variable names (the Camunda 8.8 runtime name first, then the names the official
SDKs, pyzeebe and older releases use). :func:`load_settings` resolves them and validates the
result, collecting *every* problem so the operator sees one clear message per problem at start.
Secret values never appear in those messages or in :meth:`Settings.describe`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

import isodate
from pydantic import BaseModel, ConfigDict

from connector.errors import ConnectorError
from connector.redaction import redact, register, register_url_credentials
from connector.urls import url_problem

AuthMethod = Literal["none", "basic", "oidc"]
LogFormat = Literal["plain", "json"]
DiscoverySourceName = Literal["rest", "operate"]
DiscoveryMode = Literal["incremental", "full"]

SAAS_TOKEN_URL = "https://login.cloud.camunda.io/oauth/token"
SAAS_AUDIENCE = "zeebe.camunda.io"
SAAS_OPERATE_AUDIENCE = "operate.camunda.io"
DEFAULT_REGION = "bru-2"


class ConfigError(ConnectorError):
    """Raised by :func:`load_settings` with one line per problem in ``problems``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Settings(BaseModel):
    """The validated, immutable worker configuration."""

    model_config = ConfigDict(frozen=True)

    grpc_address: str = "localhost:26500"
    grpc_tls: bool = False
    rest_address: str = "http://localhost:8080"
    auth_method: AuthMethod = "none"
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    audience: str | None = None
    scope: str | None = None
    cluster_id: str | None = None
    region: str | None = None
    ca_certificate_path: str | None = None

    discovery_source: DiscoverySourceName = "rest"
    operate_url: str | None = None
    operate_audience: str | None = None
    discovery_interval: float = 5.0
    page_size: int = 500
    variables_batch_size: int = 100
    discovery_mode: DiscoveryMode = "incremental"
    discovery_overlap: float = 10.0
    full_reconciliation_interval: float = 300.0
    min_discovery_interval: float = 1.0

    max_concurrency: int = 32
    max_per_host: int = 8
    max_backoff: float = 300.0
    shard_index: int = 0
    shard_count: int = 1
    # --shard-count auto: shard_count is the StatefulSet's replica count, read at start
    # (connector.resharding) and again every shard_count_interval seconds.
    shard_count_auto: bool = False
    shard_count_interval: float = 30.0
    tenant_ids: str | None = None
    max_response_bytes: int = 10 * 1024 * 1024
    # Zeebe's default maxMessageSize: larger messages are refused by the broker.
    max_message_bytes: int = 4 * 1024 * 1024
    min_poll_interval: float = 1.0
    secret_prefix: str = "SECRET_"

    http_host: str = "127.0.0.1"
    http_port: int | None = None
    status_token: str | None = None
    status_basic_auth: str | None = None
    status_show_details: bool = False
    status_max_connections: int = 64
    log_format: LogFormat = "plain"
    log_level: str = "INFO"
    shutdown_grace: float = 10.0
    state_dir: str | None = None

    @property
    def saas(self) -> bool:
        return self.cluster_id is not None

    @property
    def tenants(self) -> tuple[str, ...]:
        """The tenants this worker serves (``tenant_ids``, comma-separated); () = all visible."""
        return tuple(t.strip() for t in (self.tenant_ids or "").split(",") if t.strip())

    @property
    def rest_base(self) -> str:
        """REST base URL without a trailing slash and without ``/v2``."""
        return _strip_v2(self.rest_address)

    def describe(self) -> dict[str, Any]:
        """The settings as a dict for the start-up log line; secrets are masked."""
        data = self.model_dump()
        for name in ("password", "client_secret"):
            if data[name] is not None:
                data[name] = "***"
        for opt in OPTIONS:  # every option marked secret, whoever added it
            if opt.secret and data.get(opt.field) is not None:
                data[opt.field] = "***"
        return data


@dataclass(frozen=True)
class Option:
    """One setting: its field, its flag, its environment names and how to parse it."""

    field: str
    flag: str
    env: tuple[str, ...]
    kind: str  # str | bool | int | float | duration | choice
    help: str
    choices: tuple[str, ...] = ()
    secret: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "grpc_address",
        "--grpc-address",
        (
            "CAMUNDA_CLIENT_GRPCADDRESS",
            "CAMUNDA_CLIENT_GRPC_ADDRESS",
            "ZEEBE_GRPC_ADDRESS",
            "ZEEBE_ADDRESS",
        ),
        "str",
        "Zeebe gRPC gateway, host:port or http(s)://host:port (default localhost:26500)",
    ),
    Option(
        "grpc_tls",
        "--grpc-tls",
        ("CAMUNDA_CLIENT_GRPC_TLS", "CAMUNDA_SECURE_CONNECTION"),
        "bool",
        "use TLS for gRPC; an explicit choice wins, else implied by an https:// address, SaaS, "
        "--ca-certificate-path or OAuth (--no-grpc-tls for an in-cluster plaintext gateway)",
    ),
    Option(
        "rest_address",
        "--rest-address",
        (
            "CAMUNDA_CLIENT_RESTADDRESS",
            "CAMUNDA_CLIENT_REST_ADDRESS",
            "CAMUNDA_REST_ADDRESS",
            "ZEEBE_REST_ADDRESS",
        ),
        "str",
        "Orchestration Cluster REST API base URL (default http://localhost:8080)",
    ),
    Option(
        "auth_method",
        "--auth-method",
        ("CAMUNDA_CLIENT_AUTH_METHOD", "CAMUNDA_AUTH_STRATEGY"),
        "choice",
        "cluster authentication: none, basic or oidc (default: oidc when a client id is set, "
        "basic when a username is set, else none)",
        choices=("none", "basic", "oidc", "oauth"),
    ),
    Option(
        "username",
        "--username",
        ("CAMUNDA_CLIENT_AUTH_USERNAME", "CAMUNDA_BASIC_AUTH_USERNAME"),
        "str",
        "basic auth user name",
    ),
    Option(
        "password",
        "--password",
        ("CAMUNDA_CLIENT_AUTH_PASSWORD", "CAMUNDA_BASIC_AUTH_PASSWORD"),
        "str",
        "basic auth password",
        secret=True,
    ),
    Option(
        "client_id",
        "--client-id",
        ("CAMUNDA_CLIENT_AUTH_CLIENTID", "CAMUNDA_CLIENT_ID", "ZEEBE_CLIENT_ID"),
        "str",
        "OAuth client id",
    ),
    Option(
        "client_secret",
        "--client-secret",
        ("CAMUNDA_CLIENT_AUTH_CLIENTSECRET", "CAMUNDA_CLIENT_SECRET", "ZEEBE_CLIENT_SECRET"),
        "str",
        "OAuth client secret",
        secret=True,
    ),
    Option(
        "token_url",
        "--token-url",
        ("CAMUNDA_CLIENT_AUTH_TOKENURL", "CAMUNDA_OAUTH_URL", "ZEEBE_AUTHORIZATION_SERVER_URL"),
        "str",
        f"OAuth token endpoint (SaaS default {SAAS_TOKEN_URL})",
    ),
    Option(
        "audience",
        "--audience",
        ("CAMUNDA_CLIENT_AUTH_AUDIENCE", "CAMUNDA_TOKEN_AUDIENCE", "ZEEBE_TOKEN_AUDIENCE"),
        "str",
        f"OAuth audience (SaaS default {SAAS_AUDIENCE})",
    ),
    Option(
        "scope",
        "--scope",
        ("CAMUNDA_CLIENT_AUTH_SCOPE", "CAMUNDA_TOKEN_SCOPE", "CAMUNDA_CREDENTIALS_SCOPES"),
        "str",
        "OAuth scope (e.g. Entra ID '<client>/.default')",
    ),
    Option(
        "cluster_id",
        "--cluster-id",
        ("CAMUNDA_CLIENT_CLOUD_CLUSTERID", "CAMUNDA_CLUSTER_ID"),
        "str",
        "SaaS cluster id (switches to SaaS addresses and OAuth)",
    ),
    Option(
        "region",
        "--region",
        ("CAMUNDA_CLIENT_CLOUD_REGION", "CAMUNDA_CLUSTER_REGION"),
        "str",
        f"SaaS region (default {DEFAULT_REGION})",
    ),
    Option(
        "ca_certificate_path",
        "--ca-certificate-path",
        ("CAMUNDA_CLIENT_CACERTIFICATEPATH", "CAMUNDA_CA_CERTIFICATE_PATH"),
        "str",
        "CA bundle (PEM) for the cluster's TLS certificates",
    ),
    Option(
        "discovery_source",
        "--discovery-source",
        ("CONNECTOR_DISCOVERY_SOURCE",),
        "choice",
        "where waiting instances are found: rest (REST API v2, 8.8+) or operate "
        "(Operate API v1, 8.6/8.7)",
        choices=("rest", "operate"),
    ),
    Option(
        "operate_url",
        "--operate-url",
        ("CAMUNDA_OPERATE_CLIENT_URL", "OPERATE_CLIENT_BASEURL"),
        "str",
        "Operate base URL for --discovery-source operate (default: the REST address)",
    ),
    Option(
        "operate_audience",
        "--operate-audience",
        ("CAMUNDA_OPERATE_CLIENT_AUDIENCE", "OPERATE_CLIENT_AUDIENCE"),
        "str",
        f"OAuth audience for Operate (SaaS default {SAAS_OPERATE_AUDIENCE})",
    ),
    Option(
        "discovery_interval",
        "--discovery-interval",
        ("CONNECTOR_DISCOVERY_INTERVAL", "CAMUNDA_CONNECTOR_POLLING_INTERVAL"),
        "duration",
        "how often definitions and waiting instances are discovered: seconds or ISO 8601 "
        "(default 5; CAMUNDA_CONNECTOR_POLLING_INTERVAL is read in milliseconds)",
    ),
    Option(
        "page_size",
        "--page-size",
        ("CONNECTOR_PAGE_SIZE", "CAMUNDA_CONNECTOR_PROCESSDEFINITIONSEARCH_PAGESIZE"),
        "int",
        "page size of search queries (default 500)",
    ),
    Option(
        "variables_batch_size",
        "--variables-batch-size",
        ("CONNECTOR_VARIABLES_BATCH_SIZE",),
        "int",
        "process instances per variables search (default 100)",
    ),
    Option(
        "discovery_mode",
        "--discovery-mode",
        ("CONNECTOR_DISCOVERY_MODE",),
        "choice",
        "incremental (each cycle reads only changed subscriptions and new deployments; REST "
        "source) or full (the complete scan every cycle)",
        choices=("incremental", "full"),
    ),
    Option(
        "discovery_overlap",
        "--discovery-overlap",
        ("CONNECTOR_DISCOVERY_OVERLAP",),
        "duration",
        "incremental discovery re-reads changes this far behind the newest one seen, for "
        "records that become visible late: seconds or ISO 8601 (default 10)",
    ),
    Option(
        "full_reconciliation_interval",
        "--full-reconciliation-interval",
        ("CONNECTOR_FULL_RECONCILIATION_INTERVAL",),
        "duration",
        "how often incremental discovery runs the complete scan and repairs what it missed: "
        "seconds or ISO 8601 (default 300)",
    ),
    Option(
        "min_discovery_interval",
        "--min-discovery-interval",
        ("CONNECTOR_MIN_DISCOVERY_INTERVAL",),
        "duration",
        "lower bound of the discovery interval that elements' processPollingInterval may ask "
        "for: seconds or ISO 8601 (default 1)",
    ),
    Option(
        "max_concurrency",
        "--max-concurrency",
        ("CONNECTOR_MAX_CONCURRENCY",),
        "int",
        "HTTP requests in flight overall (default 32)",
    ),
    Option(
        "max_per_host",
        "--max-per-host",
        ("CONNECTOR_MAX_PER_HOST",),
        "int",
        "HTTP requests in flight per polled host (default 8)",
    ),
    Option(
        "max_backoff",
        "--max-backoff",
        ("CONNECTOR_MAX_BACKOFF",),
        "duration",
        "cap of the exponential backoff after failed polls: seconds or ISO 8601 (default 300)",
    ),
    Option(
        "shard_index",
        "--shard-index",
        ("CONNECTOR_SHARD_INDEX",),
        "int",
        "this replica's shard, 0..shard-count-1, or auto: the pod ordinal of a Kubernetes "
        "StatefulSet (POD_INDEX from the pod-index label, else the -N suffix of HOSTNAME) "
        "(default 0)",
    ),
    Option(
        "shard_count",
        "--shard-count",
        ("CONNECTOR_SHARD_COUNT",),
        "int",
        "number of replicas splitting the waiting instances, or auto: the replica count of "
        "this pod's Kubernetes StatefulSet, read from the API at start and every "
        "--shard-count-interval (needs get on statefulsets/scale) (default 1)",
    ),
    Option(
        "shard_count_interval",
        "--shard-count-interval",
        ("CONNECTOR_SHARD_COUNT_INTERVAL",),
        "duration",
        "with --shard-count auto: how often the replica count is read again; a change "
        "re-shards at once: seconds or ISO 8601 (default 30)",
    ),
    Option(
        "tenant_ids",
        "--tenant-ids",
        ("CONNECTOR_TENANT_IDS",),
        "str",
        "with multi-tenancy: the tenants whose processes this worker serves, comma-separated "
        "(default: every tenant the credentials can read)",
    ),
    Option(
        "max_response_bytes",
        "--max-response-bytes",
        ("CONNECTOR_MAX_RESPONSE_BYTES",),
        "int",
        "largest polled response accepted (default 10485760)",
    ),
    Option(
        "max_message_bytes",
        "--max-message-bytes",
        ("CONNECTOR_MAX_MESSAGE_BYTES",),
        "int",
        "largest message (serialized variables) published (default 4194304, Zeebe's "
        "maxMessageSize)",
    ),
    Option(
        "min_poll_interval",
        "--min-poll-interval",
        ("CONNECTOR_MIN_POLL_INTERVAL",),
        "duration",
        "shorter httpRequestInterval values are raised to this, with a warning: seconds or "
        "ISO 8601 (default 1)",
    ),
    Option(
        "secret_prefix",
        "--secret-prefix",
        ("CAMUNDA_CONNECTOR_SECRETPROVIDER_ENVIRONMENT_PREFIX", "CONNECTOR_SECRET_PREFIX"),
        "str",
        "environment prefix of {{secrets.NAME}} (default SECRET_)",
    ),
    Option(
        "http_host",
        "--http-host",
        ("CONNECTOR_HTTP_HOST",),
        "str",
        "bind address of the health/metrics port (default 127.0.0.1)",
    ),
    Option(
        "http_port",
        "--http-port",
        ("CONNECTOR_HTTP_PORT",),
        "int",
        "serve /health/live, /health/ready, /metrics, /inbound on this port (0 = any free port; "
        "default off)",
    ),
    Option(
        "status_token",
        "--status-token",
        ("CONNECTOR_STATUS_TOKEN",),
        "str",
        "require 'Authorization: Bearer TOKEN' for /, /inbound and /metrics (probes stay open)",
        secret=True,
    ),
    Option(
        "status_basic_auth",
        "--status-basic-auth",
        ("CONNECTOR_STATUS_BASIC_AUTH",),
        "str",
        "require basic auth USER:PASSWORD for /, /inbound and /metrics (probes stay open)",
        secret=True,
    ),
    Option(
        "status_show_details",
        "--status-show-details",
        ("CONNECTOR_STATUS_SHOW_DETAILS",),
        "bool",
        "show correlation keys and response-body excerpts on the status port (default hidden)",
    ),
    Option(
        "status_max_connections",
        "--status-max-connections",
        ("CONNECTOR_STATUS_MAX_CONNECTIONS",),
        "int",
        "open status-port connections at most; the oldest idle one is closed (default 64)",
    ),
    Option(
        "log_format",
        "--log-format",
        ("CONNECTOR_LOG_FORMAT",),
        "choice",
        "plain or json (default plain)",
        choices=("plain", "json"),
    ),
    Option(
        "log_level",
        "--log-level",
        ("CONNECTOR_LOG_LEVEL", "LOG_LEVEL"),
        "choice",
        "DEBUG, INFO, WARNING or ERROR (default INFO)",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    Option(
        "shutdown_grace",
        "--shutdown-grace",
        ("CONNECTOR_SHUTDOWN_GRACE",),
        "duration",
        "on SIGTERM, time to finish in-flight publishes: seconds or ISO 8601 (default 10)",
    ),
    Option(
        "state_dir",
        "--state-dir",
        ("CONNECTOR_STATE_DIR",),
        "str",
        "directory where observed activations whose publish failed are kept until published, "
        "so that they survive a restart (default: none, kept in memory only)",
    ),
)

OPTIONS_BY_FIELD = {o.field: o for o in OPTIONS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option; every default is ``None`` so unset flags fall through."""
    for opt in OPTIONS:
        env = ", ".join(opt.env)
        help_text = f"{opt.help} [env: {env}]"
        if opt.kind == "bool":
            parser.add_argument(
                opt.flag,
                dest=opt.field,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(opt.flag, dest=opt.field, default=None, help=help_text)


def parse_duration(text: str) -> float:
    """Seconds from ``"2.5"`` or an ISO 8601 duration such as ``"PT0.5S"``; ValueError else."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    value = isodate.parse_duration(text)
    if not isinstance(value, dt.timedelta):
        raise ValueError("calendar durations (years, months) are not allowed here")
    return value.total_seconds()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(opt: Option, raw: Any, origin: str) -> Any:
    """Turn one raw flag/env value into the field's type; ValueError with a reason else."""
    if opt.kind == "bool":
        if isinstance(raw, bool):
            return raw
        low = str(raw).strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("must be true or false")
    text = str(raw).strip()
    if opt.kind == "str":
        return text or None
    if opt.kind == "choice":
        value = text.upper() if opt.field == "log_level" else text.lower()
        if value not in opt.choices:
            raise ValueError("must be one of " + ", ".join(c for c in opt.choices if c != "oauth"))
        return "oidc" if value == "oauth" else value
    if opt.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if opt.kind == "float":
        return float(text)
    if opt.kind == "duration":
        if origin == "CAMUNDA_CONNECTOR_POLLING_INTERVAL":
            # The reference runtime reads this one in milliseconds.
            try:
                return int(text) / 1000.0
            except ValueError:
                raise ValueError("must be a whole number of milliseconds") from None
        try:
            return parse_duration(text)
        except (ValueError, isodate.ISO8601Error):
            raise ValueError("must be seconds (e.g. 5 or 0.5) or an ISO 8601 duration") from None
    raise AssertionError(opt.kind)


def _describe_origin(opt: Option, origin: str) -> str:
    return f"{origin}" if origin.startswith("--") else f"environment variable {origin}"


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve flags > environment > defaults and validate; raises ConfigError.

    ``flags`` maps field names to raw values (``None`` = not given), as produced by an
    argparse namespace built with :func:`add_arguments`.
    """
    flags = flags or {}
    env = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for opt in OPTIONS:
        raw: Any = flags.get(opt.field)
        origin = opt.flag
        if raw is None:
            for name in opt.env:
                if env.get(name, "").strip():
                    raw, origin = env[name], name
                    break
        if raw is None:
            continue
        if opt.field == "shard_index" and str(raw).strip().lower() == "auto":
            try:
                raw = auto_shard_index(env)
            except ValueError as exc:
                problems.append(f"{_describe_origin(opt, origin)}=auto: {exc}")
                continue
        if opt.field == "shard_count" and str(raw).strip().lower() == "auto":
            # Resolved from the Kubernetes API at start (I/O stays out of the configuration).
            values["shard_count_auto"] = True
            origins["shard_count_auto"] = origin
            continue
        try:
            value = _convert(opt, raw, origin)
        except ValueError as exc:
            shown = "(hidden)" if opt.secret else repr(str(raw))
            problems.append(f"{_describe_origin(opt, origin)}={shown}: {exc}")
            continue
        if value is not None:
            values[opt.field] = value
            origins[opt.field] = origin
    _apply_saas_defaults(values)
    _infer_auth(values)
    # Cluster credentials (flags and user info in the addresses) are scrubbed from logs
    # and from the problems below (which quote the addresses).
    register(values.get("password"), values.get("client_secret"))
    register_url_credentials(
        *(values.get(f) for f in ("rest_address", "grpc_address", "operate_url", "token_url"))
    )
    problems.extend(_check(values, origins))
    problems.extend(_resolve_grpc_tls(values, origins))
    if problems:
        raise ConfigError([redact(problem) for problem in problems])
    return Settings(**values)


def _apply_saas_defaults(values: dict[str, Any]) -> None:
    cluster = values.get("cluster_id")
    if not cluster:
        return
    region = values.setdefault("region", DEFAULT_REGION)
    values.setdefault("grpc_address", f"{cluster}.{region}.zeebe.camunda.io:443")
    values.setdefault("rest_address", f"https://{region}.zeebe.camunda.io/{cluster}")
    values.setdefault("operate_url", f"https://{region}.operate.camunda.io/{cluster}")
    values.setdefault("operate_audience", SAAS_OPERATE_AUDIENCE)
    values.setdefault("token_url", SAAS_TOKEN_URL)
    values.setdefault("audience", SAAS_AUDIENCE)
    values.setdefault("auth_method", "oidc")


def _infer_auth(values: dict[str, Any]) -> None:
    if "auth_method" in values:
        return
    if values.get("client_id"):
        values["auth_method"] = "oidc"
    elif values.get("username"):
        values["auth_method"] = "basic"


# Camunda's tenant id pattern (REST API v2 ``TenantId``).
TENANT_ID = re.compile(r"<default>|[A-Za-z0-9_@.+-]{1,256}")


def _name(field: str) -> str:
    opt = OPTIONS_BY_FIELD[field]
    return f"{opt.flag} / {opt.env[0]}"


def _check(values: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Cross-field rules; one message per problem, naming the flag and main env name."""
    problems: list[str] = []
    method = values.get("auth_method", "none")
    if method == "basic":
        for field in ("username", "password"):
            if not values.get(field):
                problems.append(f"auth method basic needs {_name(field)}")
    if method == "oidc":
        for field in ("client_id", "client_secret", "token_url"):
            if not values.get(field):
                problems.append(f"auth method oidc needs {_name(field)}")
    for field in ("rest_address", "token_url", "operate_url"):
        url = values.get(field)
        if url is not None:
            problem = url_problem(url)
            if problem is not None:
                problems.append(f"{_name(field)}: {url!r} {problem}")
    grpc = values.get("grpc_address")
    if grpc is not None and split_grpc_address(grpc) is None:
        problems.append(
            f"{_name('grpc_address')}: {grpc!r} is not host:port or http(s)://host:port"
        )
    positive = ("page_size", "variables_batch_size", "max_concurrency", "max_per_host")
    for field in positive:
        if field in values and values[field] < 1:
            problems.append(f"{_name(field)}: must be at least 1")
    for field in (
        "discovery_interval",
        "max_backoff",
        "full_reconciliation_interval",
        "min_discovery_interval",
        "shard_count_interval",
    ):
        if field in values and values[field] <= 0:
            problems.append(f"{_name(field)}: must be greater than zero")
    if values.get("discovery_overlap", 0) < 0:
        problems.append(f"{_name('discovery_overlap')}: must not be negative")
    if values.get("shutdown_grace", 0) < 0:
        problems.append(f"{_name('shutdown_grace')}: must not be negative")
    if values.get("max_message_bytes", 1) < 1:
        problems.append(f"{_name('max_message_bytes')}: must be at least 1")
    if values.get("min_poll_interval", 1.0) <= 0:
        problems.append(f"{_name('min_poll_interval')}: must be positive")
    if values.get("max_response_bytes", 1) < 1:
        problems.append(f"{_name('max_response_bytes')}: must be at least 1")
    count = values.get("shard_count", 1)
    index = values.get("shard_index", 0)
    if count < 1:
        problems.append(f"{_name('shard_count')}: must be at least 1")
    elif values.get("shard_count_auto"):
        # An ordinal beyond the replica count is a pod being removed: it serves nothing.
        if index < 0:
            problems.append(f"{_name('shard_index')}: must not be negative")
    elif not 0 <= index < count:
        problems.append(f"{_name('shard_index')}: must be between 0 and {count - 1} (shard count)")
    for tenant in (values.get("tenant_ids") or "").split(","):
        if tenant.strip() and not TENANT_ID.fullmatch(tenant.strip()):
            problems.append(
                f"{_name('tenant_ids')}: {tenant.strip()!r} is not a tenant id "
                "(<default> or letters, digits and _@.+-, at most 256)"
            )
    port = values.get("http_port")
    if port is not None and not 0 <= port <= 65535:
        problems.append(f"{_name('http_port')}: must be between 0 and 65535")
    if values.get("status_max_connections", 1) < 1:
        problems.append(f"{_name('status_max_connections')}: must be at least 1")
    basic = values.get("status_basic_auth")
    if basic is not None and ":" not in basic:
        problems.append(f"{_name('status_basic_auth')}: must be USER:PASSWORD")
    ca = values.get("ca_certificate_path")
    if ca is not None and not os.path.isfile(ca):
        problems.append(f"{_name('ca_certificate_path')}: file {ca!r} does not exist")
    return problems


POD_INDEX_VARIABLES = ("CONNECTOR_POD_INDEX", "POD_INDEX")


def auto_shard_index(env: Mapping[str, str]) -> int:
    """The ordinal of this StatefulSet pod: ``POD_INDEX`` (the downward API's
    ``apps.kubernetes.io/pod-index`` label) or the ``-N`` suffix of the pod name in
    ``HOSTNAME``; ValueError saying what is missing."""
    for name in POD_INDEX_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            if not value.isdigit():
                raise ValueError(f"{name}={value!r} is not a pod ordinal")
            return int(value)
    hostname = env.get("HOSTNAME", "").strip()
    match = re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?-(\d+)", hostname)
    if match is None:
        raise ValueError(
            "needs a StatefulSet pod: POD_INDEX or a HOSTNAME ending in -<ordinal>, "
            f"got HOSTNAME={hostname!r}"
        )
    return int(match.group(2))


def _resolve_grpc_tls(values: dict[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Settle ``grpc_tls``: an explicit flag/env wins, then the address scheme, then SaaS,
    a CA file or OAuth imply TLS. Contradictions are configuration errors, not guesses."""
    problems: list[str] = []
    explicit: bool | None = values.get("grpc_tls") if "grpc_tls" in origins else None
    split = split_grpc_address(values.get("grpc_address", "localhost:26500"))
    scheme_tls = split[1] if split else None
    saas = bool(values.get("cluster_id"))
    origin = origins.get("grpc_tls", "")
    if origin.startswith("--"):
        where = "--grpc-tls" if explicit else "--no-grpc-tls"
    else:
        where = f"environment variable {origin}={str(explicit).lower()}"
    if explicit is not None and scheme_tls is not None and explicit != scheme_tls:
        problems.append(
            f"{where} contradicts {_name('grpc_address')} {values['grpc_address']!r}; "
            "drop one of them"
        )
    if saas and explicit is False:
        problems.append(f"{where}: Camunda SaaS (--cluster-id) only accepts TLS")
    if saas and urlparse(values.get("rest_address", "https://x")).scheme == "http":
        problems.append(f"{_name('rest_address')}: Camunda SaaS (--cluster-id) needs https://")
    if explicit is not None:
        tls = explicit
    elif scheme_tls is not None:
        tls = scheme_tls
    else:
        tls = (
            saas
            or values.get("ca_certificate_path") is not None
            or values.get("auth_method") == "oidc"
        )
    values["grpc_tls"] = tls
    return problems


def split_grpc_address(address: str) -> tuple[str, bool | None] | None:
    """``host:port`` and whether the scheme asks for TLS (None = no scheme); None if invalid."""
    tls: bool | None = None
    text = address.strip()
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme not in ("http", "https", "grpc", "grpcs") or not parsed.hostname:
            return None
        tls = parsed.scheme in ("https", "grpcs")
        port = parsed.port or (443 if tls else 26500)
        return f"{parsed.hostname}:{port}", tls
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        return None
    return text, tls


def _strip_v2(url: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/v2"):
        url = url[: -len("/v2")]
    return url


def option_table() -> list[tuple[str, str, str]]:
    """(flag, environment names, help) rows, for documentation."""
    return [(o.flag, ", ".join(o.env), o.help) for o in OPTIONS]
