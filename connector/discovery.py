"""Finding polling work in the cluster: definitions, their XML, waiting instances, variables.

Two sources behind one small interface (:class:`Source`):

* :class:`RestV2Source`, the Orchestration Cluster REST API v2 (Camunda 8.8+): latest process
  definitions (``isLatestVersion``), open message subscriptions (``CREATED``; they carry the
  element instance key and the engine-evaluated correlation key, boundary events included),
  variables by batches of process instances (``$in``).
* :class:`OperateV1Source`, the Operate API v1 for 8.6/8.7 clusters: all definitions,
  ACTIVE flow-node instances per polling element, variables per process instance.

:class:`Discovery` runs one cycle (:meth:`Discovery.cycle`): the number of REST requests
grows with result pages (and newly seen definitions, whose XML is cached by key forever: a
deployed definition never changes), not with waiting instances. Every call is synchronous
(``requests``); the worker runs it in a thread.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import requests

from connector.bpmn import BpmnError, parse_xml
from connector.bpmn import element_ancestors as bpmn_ancestors
from connector.connection_errors import describe_request_error, describe_token_error
from connector.elements import ElementConfig, ElementConfigError, load_elements
from connector.errors import ConnectorError
from connector.http.auth import BasicAuth, OAuthClientCredentials
from connector.http.oauth import SHARED_PROVIDER, TokenProvider
from connector.http.response import OAuthError
from connector.observability import log_event
from connector.sharding import owns

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Timeout = float | tuple[float, float]  # seconds, or (connect, read)
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


# ---------------------------------------------------------------------------- errors


class ClusterError(ConnectorError):
    """A REST call to the cluster failed; ``transient`` means retrying may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


# ---------------------------------------------------------------------------- auth + client


@dataclass
class ClusterAuth:
    """How cluster calls authenticate: ``none``, ``basic`` or ``oidc`` (client credentials).

    OAuth tokens come from the worker's one :class:`~connector.http.oauth.TokenProvider`
    (shared with gRPC and the polled endpoints' OAuth): cached, refreshed before expiry,
    invalidated once on 401, and backed off while the token endpoint fails. ``session`` (if
    set) carries the TLS trust used for the token endpoint; else the caller's session is used.
    """

    method: str = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str | None = None
    audience: str | None = None
    scope: str | None = None
    session: requests.Session | None = field(default=None, repr=False)
    provider: TokenProvider = field(default=SHARED_PROVIDER, repr=False)

    def oauth(self) -> OAuthClientCredentials:
        # Camunda's clients send the credentials in the form body; Keycloak, Entra ID and
        # Auth0 all accept that.
        return OAuthClientCredentials(
            token_endpoint=self.token_url or "",
            client_id=self.client_id or "",
            client_secret=self.client_secret or "",
            audience=self.audience,
            scopes=self.scope,
            client_authentication="credentialsBody",
        )

    def headers(self, session: requests.Session, timeout: Timeout) -> dict[str, str]:
        if self.method == "basic":
            return {"Authorization": BasicAuth(self.username or "", self.password or "").header()}
        if self.method == "oidc":
            return {"Authorization": "Bearer " + self.bearer(session, timeout)}
        return {}

    def cached_header(self) -> str | None:
        """The ``authorization`` value if it needs no I/O (basic, or a cached token)."""
        if self.method == "basic":
            return BasicAuth(self.username or "", self.password or "").header()
        if self.method == "oidc":
            token = self.provider.cached(self.oauth())
            return None if token is None else "Bearer " + token
        return None

    def bearer(self, session: requests.Session | None = None, timeout: Timeout = 10.0) -> str:
        """A valid access token (blocks on a cache miss); ClusterError naming the cause."""
        use = self.session or session
        if use is None:
            use = self.session = requests.Session()  # kept: one pool for later refreshes
        pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            verify = True if use.verify is None else use.verify
            return self.provider.token(self.oauth(), use, timeout=pair, verify=verify)
        except OAuthError as exc:
            client_fault = exc.status is not None and 400 <= exc.status < 500
            raise ClusterError(
                describe_token_error(exc.status, exc.error, str(exc)),
                status=exc.status,
                transient=not client_fault or exc.status == 429,
            ) from None

    def invalidate(self) -> None:
        if self.method == "oidc":
            self.provider.invalidate(self.oauth())

    def with_audience(self, audience: str) -> ClusterAuth:
        return dataclasses.replace(self, audience=audience)


class RestClient:
    """JSON over HTTP to one base URL, with auth, a request counter and clear errors."""

    def __init__(
        self,
        base_url: str,
        auth: ClusterAuth | None = None,
        *,
        timeout: Timeout = (5.0, 20.0),
        verify: bool | str = True,
        session: requests.Session | None = None,
        login_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth or ClusterAuth()
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        self.requests = 0
        self._count_lock = threading.Lock()
        # Operate's self-managed "basic" login: a session cookie from POST <login_path>.
        self._login_path = login_path if self.auth.method == "basic" else None
        self._logged_in = False
        self._login_lock = threading.Lock()

    def _login(self) -> None:
        with self._login_lock:
            if self._logged_in or self._login_path is None:
                return
            with self._count_lock:
                self.requests += 1
            params = {"username": self.auth.username or "", "password": self.auth.password or ""}
            try:
                reply = self.session.post(
                    self.base_url + self._login_path, params=params, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ClusterError(f"login: {type(exc).__name__}") from None
            if reply.status_code >= 300:
                raise ClusterError(
                    f"login answered {reply.status_code}",
                    status=reply.status_code,
                    transient=reply.status_code in TRANSIENT_STATUSES,
                )
            self._logged_in = True

    def close(self) -> None:
        self.session.close()

    def post(self, path: str, body: JsonObject) -> Any:
        reply = self._send("POST", path, json_body=body)
        return self._json(reply, path)

    def get_json(self, path: str) -> Any:
        return self._json(self._send("GET", path), path)

    def get_text(self, path: str, accept: str = "application/json") -> str | None:
        """Body text, or None for 204/404 (no such resource)."""
        reply = self._send("GET", path, allow_missing=True, accept=accept)
        if reply.status_code in (204, 404):
            return None
        if "charset" not in reply.headers.get("Content-Type", "").lower():
            # requests would read text/* without a charset as ISO-8859-1, turning "ü" in a
            # BPMN expression into "Ã¼"; the XML and JSON the cluster sends are UTF-8
            reply.encoding = "utf-8"
        return reply.text

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: JsonObject | None = None,
        allow_missing: bool = False,
        accept: str = "application/json",
    ) -> requests.Response:
        url = self.base_url + path
        for attempt in (1, 2):
            if self._login_path is not None:
                self._login()
                headers = {"Accept": accept}
            else:
                headers = {
                    "Accept": accept,
                    **self.auth.headers(self.session, self.timeout),
                }
            with self._count_lock:
                self.requests += 1
            try:
                reply = self.session.request(
                    method, url, json=json_body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ClusterError(f"{method} {path}: {describe_request_error(exc)}") from None
            if reply.status_code == 401 and attempt == 1 and self.auth.method == "oidc":
                self.auth.invalidate()  # the token may have been revoked: fetch a new one once
                continue
            if reply.status_code == 401 and attempt == 1 and self._login_path is not None:
                self._logged_in = False  # the session expired: log in again once
                continue
            if reply.status_code < 300 or (allow_missing and reply.status_code == 404):
                return reply
            raise ClusterError(
                f"{method} {path} answered {reply.status_code}: {_problem_detail(reply)}",
                status=reply.status_code,
                transient=reply.status_code in TRANSIENT_STATUSES,
            )
        raise AssertionError("unreachable")

    @staticmethod
    def _json(reply: requests.Response, path: str) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise ClusterError(f"{path}: answer is not JSON", status=reply.status_code) from None


def _problem_detail(reply: requests.Response) -> str:
    try:
        data = reply.json()
    except ValueError:
        return reply.text[:200]
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("message") or data.get("title") or "")[:200]
    return ""


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class DefinitionRef:
    key: int
    process_id: str
    version: int | None
    tenant_id: str | None


@dataclass(frozen=True)
class Definition:
    """One deployed process definition's polling elements (cached by key, immutable)."""

    ref: DefinitionRef
    configs: Mapping[str, ElementConfig]
    errors: tuple[ElementConfigError, ...] = ()
    #: element id -> enclosing sub-process ids, innermost first (for variable scopes)
    ancestors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def has_polling(self) -> bool:
        return bool(self.configs) or bool(self.errors)

    def config_for(self, element_id: str, message_name: str | None) -> ElementConfig | None:
        config = self.configs.get(element_id)
        if config is not None:
            return config
        # Some engines report a boundary event's subscription under the activity's id.
        for candidate in self.configs.values():
            if candidate.attached_to == element_id and (
                message_name is None or candidate.message_name == message_name
            ):
                return candidate
        return None


@dataclass(frozen=True, slots=True)
class WaitingInstance:
    """One element instance waiting at a polling element."""

    element_instance_key: int
    process_instance_key: int
    process_definition_key: int
    process_id: str
    element_id: str
    message_name: str
    correlation_key: str | None
    tenant_id: str | None
    config: ElementConfig = field(compare=False, repr=False)
    #: Poller identity: two boundary events on one activity share the instance key. Made
    #: once: the worker's maps per instance all key by this one tuple.
    key: tuple[int, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.element_instance_key, self.element_id))
        if self.tenant_id is not None:
            # A handful of tenants, one string each (not one per waiting instance).
            object.__setattr__(self, "tenant_id", sys.intern(self.tenant_id))


class WaitingRow(NamedTuple):
    """A raw waiting element instance as a source reports it (a tuple: 10,000s per cycle)."""

    element_instance_key: int
    process_instance_key: int
    process_definition_key: int
    element_id: str
    message_name: str | None
    correlation_key: str | None
    tenant_id: str | None


class VariableRow(NamedTuple):
    key: int
    name: str
    value: str
    scope_key: int
    process_instance_key: int
    truncated: bool


@dataclass
class Snapshot:
    """What one discovery cycle found."""

    definitions: dict[int, Definition]
    waiting: dict[tuple[int, str], WaitingInstance]
    new_definitions: list[Definition]
    requests: int
    duration: float
    skipped_other_shards: int = 0
    #: Why the cluster looks reset (keys reused), when it does: records kept by key are stale.
    reset_reason: str | None = None
    #: waiting instances a full reconciliation found the increments had missed
    repaired: int = 0


# ---------------------------------------------------------------------------- sources


class Source(Protocol):
    @property
    def requests_made(self) -> int:
        """REST requests made so far (for the per-cycle count)."""

    def definitions(self) -> list[DefinitionRef]:
        """Definitions to load: the latest versions (or every version if the source must)."""

    def xml(self, key: int) -> str | None: ...

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        """Every open wait; rows of definitions not in ``definitions`` are loaded on demand."""

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        """Variables of the instances (every scope); only ``names`` when given (may return
        more: callers must not rely on the filter)."""

    def variable_value(self, variable_key: int) -> str | None: ...

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        """(process instance, element id) -> key of the ACTIVE instance of that element."""


# The first release whose REST API v2 has every search the REST source uses.
MIN_REST_V2_RELEASE = (8, 8)


def parse_release(version: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a version such as ``8.8.3`` or ``8.9.0-alpha1``; None if unreadable."""
    if not version:
        return None
    parts = version.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or "x")
    except (IndexError, ValueError):
        return None


def _int(value: Any) -> int:
    return int(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


class RestV2Source:
    """Orchestration Cluster REST API v2 (Camunda 8.8+)."""

    def __init__(
        self, client: RestClient, page_size: int = 500, tenant_ids: Sequence[str] = ()
    ) -> None:
        self.client = client
        self.page_size = page_size
        #: with multi-tenancy, only these tenants' definitions and waits (empty = all visible)
        self.tenant_ids = tuple(tenant_ids)
        self.cluster_version: str | None = None
        self._version_checked = False

    @property
    def requests_made(self) -> int:
        return self.client.requests

    def _search(
        self, path: str, filter_: JsonObject, sort: list[JsonObject]
    ) -> Iterator[JsonObject]:
        """Every item of a search, page by page with the ``after`` cursor."""
        body: JsonObject = {"filter": filter_, "sort": sort, "page": {"limit": self.page_size}}
        seen = 0
        while True:
            data = self.client.post(path, body)
            items = data.get("items") or []
            yield from items
            seen += len(items)
            page = data.get("page") or {}
            cursor = page.get("endCursor")
            if len(items) < self.page_size or not cursor:
                return
            total = page.get("totalItems")
            if isinstance(total, int) and seen >= total and not page.get("hasMoreTotalItems"):
                return  # saves the empty page a full last page would otherwise cost
            body = {**body, "page": {"limit": self.page_size, "after": cursor}}

    def check_version(self) -> str | None:
        """The cluster's version from ``/v2/topology`` (read once, logged); raises a permanent
        :class:`ClusterError` naming the fix when the cluster predates the 8.8 search API."""
        if not self._version_checked:
            data = self.client.get_json("/v2/topology")
            version = data.get("gatewayVersion") if isinstance(data, dict) else None
            self.cluster_version = str(version) if version else None
            self._version_checked = True
            log_event(log, "cluster version", version=self.cluster_version or "unknown")
        release = parse_release(self.cluster_version)
        if release is not None and release < MIN_REST_V2_RELEASE:
            # Every cycle fails the same way (the worker logs it once) until reconfigured.
            raise ClusterError(
                f"the cluster runs Camunda {self.cluster_version}, older than 8.8: its REST API "
                "has no message-subscription search. Set CONNECTOR_DISCOVERY_SOURCE=operate "
                "(--discovery-source operate) and CONNECTOR_OPERATE_URL if Operate is not "
                "served at the REST address",
                transient=False,
            )
        return self.cluster_version

    def definitions(self) -> list[DefinitionRef]:
        self.check_version()
        # With isLatestVersion Camunda 8.8.x (since the 2026 backport) and 8.9 allow only
        # these sort fields and forward cursor paging; 8.8.0 accepts them too.
        sort = [
            {"field": "processDefinitionId", "order": "ASC"},
            {"field": "tenantId", "order": "ASC"},
        ]
        # The definition filter takes one plain tenantId: one search per configured tenant.
        filters: list[JsonObject] = [
            {"isLatestVersion": True, "tenantId": tenant} for tenant in self.tenant_ids
        ] or [{"isLatestVersion": True}]
        return [
            DefinitionRef(
                key=_int(item["processDefinitionKey"]),
                process_id=str(item.get("processDefinitionId") or ""),
                version=_opt_int(item.get("version")),
                tenant_id=item.get("tenantId"),
            )
            for filter_ in filters
            for item in self._search("/v2/process-definitions/search", filter_, sort)
        ]

    def xml(self, key: int) -> str | None:
        # The XML endpoint produces only text/xml (problems as application/problem+json);
        # asking for JSON is answered with 406 by Camunda.
        return self.client.get_text(
            f"/v2/process-definitions/{key}/xml", accept="text/xml, application/problem+json"
        )

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        sort = [{"field": "messageSubscriptionKey", "order": "ASC"}]
        # A migrated instance keeps its subscription (state MIGRATED, at the target's element).
        filter_: JsonObject = {"messageSubscriptionState": {"$in": ["CREATED", "MIGRATED"]}}
        if self.tenant_ids:
            filter_["tenantId"] = {"$in": list(self.tenant_ids)}
        for item in self._search("/v2/message-subscriptions/search", filter_, sort):
            try:
                yield WaitingRow(
                    element_instance_key=_int(item["elementInstanceKey"]),
                    process_instance_key=_int(item["processInstanceKey"]),
                    process_definition_key=_int(item["processDefinitionKey"]),
                    element_id=str(item["elementId"]),
                    message_name=item.get("messageName"),
                    correlation_key=item.get("correlationKey"),
                    tenant_id=item.get("tenantId"),
                )
            except (KeyError, TypeError, ValueError):
                log.debug("skipping incomplete message subscription %r", item)

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        filter_: JsonObject = {
            "processInstanceKey": {"$in": [str(k) for k in process_instance_keys]}
        }
        if names is not None:
            # Only what the expressions read: fewer rows, fewer pages, fewer truncated
            # values to fetch one by one.
            filter_["name"] = {"$in": sorted(names)}
        sort = [{"field": "variableKey", "order": "ASC"}]
        return [
            VariableRow(
                key=_int(item["variableKey"]),
                name=str(item["name"]),
                value=str(item.get("value")),
                scope_key=_int(item["scopeKey"]),
                process_instance_key=_int(item["processInstanceKey"]),
                truncated=bool(item.get("isTruncated")),
            )
            for item in self._search("/v2/variables/search", filter_, sort)
        ]

    def variable_value(self, variable_key: int) -> str | None:
        data = self.client.get_json(f"/v2/variables/{variable_key}")
        return None if not isinstance(data, dict) else str(data.get("value"))

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        # The element-instance filter takes only plain values for keys and element ids in
        # 8.8 and 8.9 (no `$in`): one search per instance and sub-process (usually one).
        sort = [{"field": "elementInstanceKey", "order": "ASC"}]
        found: dict[tuple[int, str], int] = {}
        for pik in process_instance_keys:
            for element_id in element_ids:
                filter_ = {
                    "processInstanceKey": str(pik),
                    "elementId": element_id,
                    "state": "ACTIVE",
                }
                for item in self._search("/v2/element-instances/search", filter_, sort):
                    found[(_int(item["processInstanceKey"]), str(item["elementId"]))] = _int(
                        item["elementInstanceKey"]
                    )
        return found


class OperateV1Source:
    """Operate API v1 (Camunda 8.6/8.7; deprecated in 8.8, removed in 8.10).

    Operate has no message-subscription search: waiting instances are the ACTIVE flow-node
    instances of each polling element (of the attached activity for boundary events), and
    the subscription's correlation key is not available.
    """

    def __init__(self, client: RestClient, page_size: int = 500) -> None:
        self.client = client
        self.page_size = page_size

    @property
    def requests_made(self) -> int:
        return self.client.requests

    def _search(self, path: str, filter_: JsonObject) -> Iterator[JsonObject]:
        body: JsonObject = {
            "filter": filter_,
            "size": self.page_size,
            "sort": [{"field": "key", "order": "ASC"}],
        }
        while True:
            data = self.client.post(path, body)
            items = data.get("items") or []
            yield from items
            sort_values = data.get("sortValues")
            if len(items) < self.page_size or not sort_values:
                return
            body = {**body, "searchAfter": sort_values}

    def definitions(self) -> list[DefinitionRef]:
        # Every version: older versions with waiting instances must be served too, and
        # Operate cannot tell which ones have open subscriptions.
        return [
            DefinitionRef(
                key=_int(item["key"]),
                process_id=str(item.get("bpmnProcessId") or ""),
                version=_opt_int(item.get("version")),
                tenant_id=item.get("tenantId"),
            )
            for item in self._search("/v1/process-definitions/search", {})
        ]

    def xml(self, key: int) -> str | None:
        return self.client.get_text(f"/v1/process-definitions/{key}/xml")

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        for key, definition in definitions.items():
            for config in definition.configs.values():
                node = config.attached_to if config.kind == "boundary" else config.element_id
                filter_ = {"processDefinitionKey": key, "flowNodeId": node, "state": "ACTIVE"}
                for item in self._search("/v1/flownode-instances/search", filter_):
                    yield WaitingRow(
                        element_instance_key=_int(item["key"]),
                        process_instance_key=_int(item["processInstanceKey"]),
                        process_definition_key=key,
                        element_id=config.element_id,
                        message_name=config.message_name,
                        correlation_key=None,
                        tenant_id=item.get("tenantId"),
                    )

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        # Operate v1 filters are exact matches only: one search per instance, and the
        # names are filtered here (a search per name would multiply the requests).
        rows: list[VariableRow] = []
        for pik in process_instance_keys:
            for item in self._search("/v1/variables/search", {"processInstanceKey": pik}):
                if names is not None and str(item["name"]) not in names:
                    continue
                rows.append(
                    VariableRow(
                        key=_int(item["key"]),
                        name=str(item["name"]),
                        value=str(item.get("value")),
                        scope_key=_int(item["scopeKey"]),
                        process_instance_key=_int(item["processInstanceKey"]),
                        truncated=bool(item.get("truncated")),
                    )
                )
        return rows

    def variable_value(self, variable_key: int) -> str | None:
        data = self.client.get_json(f"/v1/variables/{variable_key}")
        return None if not isinstance(data, dict) else str(data.get("value"))

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        found: dict[tuple[int, str], int] = {}
        for pik in process_instance_keys:
            for element_id in element_ids:
                filter_ = {"processInstanceKey": pik, "flowNodeId": element_id, "state": "ACTIVE"}
                for item in self._search("/v1/flownode-instances/search", filter_):
                    found[(pik, element_id)] = _int(item["key"])
        return found


# ---------------------------------------------------------------------------- BPMN helpers


def element_ancestors(xml: str | bytes) -> dict[str, tuple[str, ...]]:
    """Element id -> ids of its enclosing sub-processes, innermost first.

    A boundary event gets its activity's ancestors (it lives in the activity's scope).
    Parsed with the hardened parser and walked without recursion (any nesting depth).
    """
    try:
        return bpmn_ancestors(parse_xml(xml))
    except BpmnError:
        return {}


def reuses_key(cached: DefinitionRef, ref: DefinitionRef) -> bool:
    """Whether ``ref`` (from the definitions list) describes another definition than the
    cached one under the same key. Refs made from waiting rows carry no process id or
    version and so never count as a mismatch."""
    if not ref.process_id or not cached.process_id:
        return False
    return (
        ref.process_id != cached.process_id
        or (
            ref.version is not None and cached.version is not None and ref.version != cached.version
        )
        or ref.tenant_id != cached.tenant_id
    )


def parse_value(text: str) -> Any:
    """A variable's JSON text as a Python value (the raw text if it is not valid JSON)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------- discovery


class Discovery:
    """Runs discovery cycles and batched variable fetches against one :class:`Source`."""

    def __init__(
        self,
        source: Source,
        *,
        shard_index: int = 0,
        shard_count: int = 1,
        batch_size: int = 100,
    ) -> None:
        self.source = source
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.batch_size = batch_size
        self._cache: dict[int, Definition] = {}
        self._unreadable: set[int] = set()
        self._lock = threading.Lock()
        self._waiting: dict[tuple[int, str], WaitingInstance] = {}  # the last cycle's
        self._top_key: int | None = None  # highest listed definition key, last cycle
        self._reset_reason: str | None = None

    def definition(self, key: int) -> Definition | None:
        return self._cache.get(key)

    def next_interval(self, default: float) -> float:
        """Seconds until the next cycle (the complete scan keeps the configured interval)."""
        return default

    def _load(self, ref: DefinitionRef, new: list[Definition]) -> Definition | None:
        cached = self._cache.get(ref.key)
        if cached is not None:
            if not reuses_key(cached.ref, ref):
                return cached
            # The cluster lost its state (a restart, a wiped cluster) and reuses keys.
            log.warning(
                "definition key %s now names %s version %s (was %s version %s): the cluster "
                "reuses keys (state reset?); reloading it",
                ref.key,
                ref.process_id,
                ref.version,
                cached.ref.process_id,
                cached.ref.version,
            )
            with self._lock:
                self._cache.pop(ref.key, None)
            self._waiting = {}  # instance keys may be reused too
            self._reset_reason = f"definition key {ref.key} reused by another process/version"
        try:
            xml = self.source.xml(ref.key)
        except ClusterError as exc:
            if exc.transient:
                raise
            # One unreadable definition (e.g. 403) must not stop discovery of the others.
            if ref.key not in self._unreadable:
                self._unreadable.add(ref.key)
                log.warning("cannot read the XML of definition %s: %s", ref.key, exc)
            return None
        if xml is None:
            return None  # not visible yet (eventual consistency): try again next cycle
        self._unreadable.discard(ref.key)
        source = f"{ref.process_id or 'process'} (key {ref.key})"
        try:
            configs, errors = load_elements(xml, source=source)
            ancestors = element_ancestors(xml) if configs else {}
        except Exception as exc:  # bad BPMN or a bug: this definition only, not discovery
            reason = str(exc) if isinstance(exc, BpmnError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "definition %s (%s) cannot be loaded, ignoring it: %s",
                ref.key,
                ref.process_id or "process",
                reason[:300],
            )
            configs, errors, ancestors = [], [], {}
        definition = Definition(
            ref=ref,
            configs={c.element_id: c for c in configs},
            errors=tuple(errors),
            ancestors=ancestors,
        )
        with self._lock:
            self._cache[ref.key] = definition
        if definition.has_polling:
            new.append(definition)
        return definition

    def cycle(self) -> Snapshot:
        """One discovery pass; raises :class:`ClusterError` when the cluster fails."""
        started = time.monotonic()
        before = self.source.requests_made
        new: list[Definition] = []
        active: dict[int, Definition] = {}
        refs = self.source.definitions()
        top = max((r.key for r in refs), default=None)
        if self._top_key is not None and (top is None or top < self._top_key):
            # Keys only grow: going backwards means the cluster lost its state, and keys
            # (definitions, instances) will be handed out again.
            self._reset_reason = (
                f"the highest deployed definition key went back from {self._top_key} to {top}"
            )
            log.warning("cluster state reset detected (%s): reloading", self._reset_reason)
            with self._lock:
                self._cache.clear()
            self._unreadable.clear()
            self._waiting = {}
        self._top_key = top
        for ref in refs:
            definition = self._load(ref, new)
            if definition is not None and definition.has_polling:
                active[ref.key] = definition
        waiting: dict[tuple[int, str], WaitingInstance] = {}
        previous = self._waiting
        skipped = 0
        for row in self.source.waiting(active):
            definition = active.get(row.process_definition_key)
            if definition is None:
                # An older version with open waits: load (once) and serve it too.
                ref = DefinitionRef(row.process_definition_key, "", None, row.tenant_id)
                definition = self._load(ref, new)
                if definition is None or not definition.has_polling:
                    continue
                active[row.process_definition_key] = definition
            config = definition.config_for(row.element_id, row.message_name)
            if config is None:
                continue
            key = (row.element_instance_key, config.element_id)
            known = previous.get(key)
            if (
                known is not None
                and known.config is config
                and known.process_instance_key == row.process_instance_key
                and known.process_definition_key == row.process_definition_key
                and known.correlation_key == row.correlation_key
                and known.tenant_id == row.tenant_id
            ):
                waiting[key] = known  # unchanged (and owned): no new object per cycle
                continue
            if not owns(row.element_instance_key, self.shard_index, self.shard_count):
                skipped += 1
                continue
            instance = WaitingInstance(
                element_instance_key=row.element_instance_key,
                process_instance_key=row.process_instance_key,
                process_definition_key=row.process_definition_key,
                process_id=config.process_id,
                element_id=config.element_id,
                message_name=config.message_name,
                correlation_key=row.correlation_key,
                tenant_id=row.tenant_id,
                config=config,
            )
            waiting[instance.key] = instance
        self._waiting = waiting
        reset, self._reset_reason = self._reset_reason, None
        return Snapshot(
            definitions=active,
            waiting=waiting,
            new_definitions=new,
            requests=self.source.requests_made - before,
            duration=time.monotonic() - started,
            skipped_other_shards=skipped,
            reset_reason=reset,
        )

    def fetch_variables(
        self, instances: Sequence[WaitingInstance]
    ) -> dict[tuple[int, str], dict[str, Any]]:
        """Current variables visible to each instance, in batches of process instances.

        Only the variables the instances' expressions read are fetched
        (``ElementConfig.variable_names``). Scopes as Zeebe resolves names: the element
        instance's locals, then enclosing sub-processes (innermost first), then the
        process instance.
        """
        result: dict[tuple[int, str], dict[str, Any]] = {}
        by_pik: dict[int, list[WaitingInstance]] = {}
        for inst in instances:
            by_pik.setdefault(inst.process_instance_key, []).append(inst)
        piks = sorted(by_pik)
        for start in range(0, len(piks), self.batch_size):
            batch = piks[start : start + self.batch_size]
            members = [inst for pik in batch for inst in by_pik[pik]]
            names = frozenset().union(*{inst.config.variable_names for inst in members})
            scopes: dict[int, dict[str, Any]] = {}
            for row in self.source.variables(batch, names):
                text = row.value
                if row.truncated:
                    full = self.source.variable_value(row.key)
                    text = full if full is not None else text
                scopes.setdefault(row.scope_key, {})[row.name] = parse_value(text)
            nested = self._nested_scope_keys(batch, members)
            for inst in members:
                result[inst.key] = _visible(inst, scopes, nested, self._cache)
        return result

    def _nested_scope_keys(
        self, batch: Sequence[int], members: Sequence[WaitingInstance]
    ) -> dict[tuple[int, str], int]:
        ids: set[str] = set()
        for inst in members:
            definition = self._cache.get(inst.process_definition_key)
            if definition is not None:
                ids.update(definition.ancestors.get(inst.element_id, ()))
        if not ids:
            return {}
        return self.source.scope_keys(batch, sorted(ids))


def _visible(
    inst: WaitingInstance,
    scopes: Mapping[int, Mapping[str, Any]],
    nested: Mapping[tuple[int, str], int],
    definitions: Mapping[int, Definition],
) -> dict[str, Any]:
    """The instance's variables by name, as Zeebe resolves them: element-local first, then
    enclosing sub-processes (innermost first), then the process instance. Only the names
    the element reads: a batch fetches the union of its elements' names."""
    definition = definitions.get(inst.process_definition_key)
    ancestors = definition.ancestors.get(inst.element_id, ()) if definition else ()
    chain = [scopes.get(inst.element_instance_key)]
    for ancestor in ancestors:
        scope_key = nested.get((inst.process_instance_key, ancestor))
        if scope_key is not None:
            chain.append(scopes.get(scope_key))
    chain.append(scopes.get(inst.process_instance_key))
    present = [scope for scope in chain if scope]
    found: dict[str, Any] = {}
    for name in inst.config.variable_names:
        for scope in present:
            if name in scope:
                found[name] = scope[name]
                break
    return found


def build_source(settings: Any, auth: ClusterAuth) -> tuple[Source, RestClient]:
    """The configured source and its client (``settings`` is a connector.config.Settings)."""
    verify: bool | str = settings.ca_certificate_path or True
    if settings.discovery_source == "operate":
        operate_auth = auth
        if auth.method == "oidc" and settings.operate_audience:
            operate_auth = auth.with_audience(settings.operate_audience)
        base = settings.operate_url or settings.rest_base
        client = RestClient(
            base, operate_auth, verify=verify, session=auth.session, login_path="/api/login"
        )
        return OperateV1Source(client, settings.page_size), client
    client = RestClient(settings.rest_base, auth, verify=verify, session=auth.session)
    tenants = tuple(getattr(settings, "tenants", ()))
    return RestV2Source(client, settings.page_size, tenants), client
