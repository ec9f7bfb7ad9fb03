"""Finding polling work in the cluster: definitions, their XML, waiting instances, variables.

Two sources behind one small interface (:class:`~connector.discovery.model.Source`), chosen
by ``--discovery-source`` (:func:`build_source`):

* :class:`RestV2Source`, the Orchestration Cluster REST API v2 (Camunda 8.8+), and
* :class:`OperateV1Source`, the Operate API v1 for 8.6/8.7 clusters,

both over one :class:`RestClient` (:class:`ClusterAuth`). :class:`Discovery` runs the complete
scan each cycle; :class:`IncrementalDiscovery` reads only what changed (REST API v2);
:func:`build_discovery` picks one. Which replica serves an instance: :func:`owns`.

Modules, from the bottom of the package's layers (pyproject.toml) up: ``model`` (what
discovery deals in), ``cluster`` (the REST client and cluster auth), ``sharding``; the
sources ``rest_v2`` and ``operate_v1`` and the complete scan ``cycle``; ``incremental``;
``sources`` (what the settings ask for). This module is the package's public surface: other
packages import from here only.
"""

from connector.discovery.cluster import ClusterAuth, ClusterError, RestClient
from connector.discovery.cycle import Discovery
from connector.discovery.incremental import (
    IncrementalDiscovery,
    SyncOptions,
    cycle_interval,
    format_timestamp,
    parse_timestamp,
)
from connector.discovery.model import (
    Definition,
    DefinitionRef,
    Snapshot,
    WaitingInstance,
    reuses_key,
)
from connector.discovery.operate_v1 import OperateV1Source
from connector.discovery.rest_v2 import RestV2Source
from connector.discovery.sharding import owns, shard_of
from connector.discovery.sources import build_discovery, build_source

__all__ = [
    "ClusterAuth",
    "ClusterError",
    "Definition",
    "DefinitionRef",
    "Discovery",
    "IncrementalDiscovery",
    "OperateV1Source",
    "RestClient",
    "RestV2Source",
    "Snapshot",
    "SyncOptions",
    "WaitingInstance",
    "build_discovery",
    "build_source",
    "cycle_interval",
    "format_timestamp",
    "owns",
    "parse_timestamp",
    "reuses_key",
    "shard_of",
]
