"""The configured source of discovery and its REST client."""

from __future__ import annotations

from typing import Any

from connector.discovery.cluster import ClusterAuth, RestClient
from connector.discovery.model import Source
from connector.discovery.operate_v1 import OperateV1Source
from connector.discovery.rest_v2 import RestV2Source


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
