"""The cluster client's auth and the discovery factories, without a cluster."""

from __future__ import annotations

from typing import get_args

import pytest
import requests

from connector.config import DiscoverySourceName, load_settings
from connector.discovery import (
    ClusterAuth,
    Discovery,
    IncrementalDiscovery,
    OperateV1Source,
    RestV2Source,
    build_discovery,
    build_source,
)
from connector.discovery.cluster import optional_int, parse_release
from connector.discovery.sources import SOURCES
from connector.http.auth import BasicAuth
from connector.http.oauth import SHARED_PROVIDER, TokenProvider, cache_key


def test_cluster_tokens_come_from_the_shared_provider() -> None:
    """One cache, refresh margin and backoff for the cluster's and the elements' tokens."""
    assert ClusterAuth().provider is SHARED_PROVIDER


def test_basic_auth_uses_the_http_header_builder() -> None:
    auth = ClusterAuth(method="basic", username="demo", password="pä:ss")
    expected = BasicAuth("demo", "pä:ss").header()
    assert auth.cached_header() == expected
    assert auth.headers(requests.Session(), 1.0) == {"Authorization": expected}


def test_no_auth_sends_no_header() -> None:
    auth = ClusterAuth()
    assert auth.cached_header() is None
    assert auth.headers(requests.Session(), 1.0) == {}


def test_a_cached_token_is_used_without_io() -> None:
    provider = TokenProvider()
    auth = ClusterAuth(
        method="oidc", client_id="id", client_secret="s", token_url="http://kc", provider=provider
    )
    assert auth.cached_header() is None
    provider._store(cache_key(auth.oauth()), "t0k", 300.0)
    assert auth.cached_header() == "Bearer t0k"
    assert auth.headers(requests.Session(), 1.0) == {"Authorization": "Bearer t0k"}
    auth.invalidate()
    assert auth.cached_header() is None


def test_another_audience_is_another_token() -> None:
    auth = ClusterAuth(method="oidc", client_id="id", client_secret="s", token_url="http://kc")
    operate = auth.with_audience("operate-api")
    assert operate.audience == "operate-api" and auth.audience is None
    assert cache_key(operate.oauth()) != cache_key(auth.oauth())


@pytest.mark.parametrize(
    ("version", "release"),
    [("8.8.3", (8, 8)), ("8.9.0-alpha1", (8, 9)), ("8.10", (8, 10)), ("8", None), (None, None)],
)
def test_parse_release(version: str | None, release: tuple[int, int] | None) -> None:
    assert parse_release(version) == release


def test_optional_int() -> None:
    assert optional_int(None) is None
    assert optional_int("7") == 7


def test_every_configurable_source_is_in_the_table() -> None:
    assert set(SOURCES) == set(get_args(DiscoverySourceName))


def test_build_source_follows_the_setting() -> None:
    auth = ClusterAuth()
    rest, rest_client = build_source(load_settings({}, {}), auth)
    assert isinstance(rest, RestV2Source) and rest.client is rest_client
    operate, client = build_source(
        load_settings({}, {"CONNECTOR_DISCOVERY_SOURCE": "operate"}), auth
    )
    assert isinstance(operate, OperateV1Source) and operate.client is client
    rest_client.close()
    client.close()


def test_operate_never_runs_incrementally() -> None:
    settings = load_settings({}, {"CONNECTOR_DISCOVERY_SOURCE": "operate"})
    source, client = build_source(settings, ClusterAuth())
    built = build_discovery(source, settings)
    assert type(built) is Discovery and not isinstance(built, IncrementalDiscovery)
    client.close()
