"""What the settings ask for: the source of discovery (from a table) and the kind of cycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connector.config import DiscoverySourceName, Settings
from connector.discovery.cluster import ClusterAuth, RestClient
from connector.discovery.cycle import Discovery
from connector.discovery.incremental import IncrementalDiscovery, SyncOptions
from connector.discovery.model import Source
from connector.discovery.operate_v1 import OperateV1Source
from connector.discovery.rest_v2 import RestV2Source

SourceFactory = Callable[[Settings, ClusterAuth, bool | str], tuple[Source, RestClient]]


def rest_v2_source(
    settings: Settings, auth: ClusterAuth, verify: bool | str
) -> tuple[Source, RestClient]:
    client = RestClient(settings.rest_base, auth, verify=verify, session=auth.session)
    return RestV2Source(client, settings.page_size, settings.tenants), client


def operate_v1_source(
    settings: Settings, auth: ClusterAuth, verify: bool | str
) -> tuple[Source, RestClient]:
    operate_auth = auth
    if auth.method == "oidc" and settings.operate_audience:
        operate_auth = auth.with_audience(settings.operate_audience)
    base = settings.operate_url or settings.rest_base
    client = RestClient(
        base, operate_auth, verify=verify, session=auth.session, login_path="/api/login"
    )
    return OperateV1Source(client, settings.page_size), client


#: ``--discovery-source`` -> how to build that source
SOURCES: Mapping[DiscoverySourceName, SourceFactory] = {
    "rest": rest_v2_source,
    "operate": operate_v1_source,
}


def build_source(settings: Settings, auth: ClusterAuth) -> tuple[Source, RestClient]:
    """The configured source and its client."""
    verify: bool | str = settings.ca_certificate_path or True
    return SOURCES[settings.discovery_source](settings, auth, verify)


def build_discovery(source: Source, settings: Settings) -> Discovery:
    """The discovery the settings ask for: incremental on REST API v2 sources (unless
    ``discovery_mode`` is ``full``), the complete scan every cycle otherwise."""
    shards = {"shard_index": settings.shard_index, "shard_count": settings.shard_count}
    batch_size = settings.variables_batch_size
    if settings.discovery_mode == "incremental" and isinstance(source, RestV2Source):
        options = SyncOptions(
            overlap=settings.discovery_overlap,
            full_reconciliation_interval=settings.full_reconciliation_interval,
            min_interval=settings.min_discovery_interval,
        )
        return IncrementalDiscovery(source, options=options, batch_size=batch_size, **shards)
    return Discovery(source, batch_size=batch_size, **shards)
