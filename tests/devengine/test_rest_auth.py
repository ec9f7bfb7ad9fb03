"""Optional basic / bearer auth on the REST API (off by default)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connector.devengine.rest import AuthConfig
from connector.devengine.server import DevEngine, DevEngineOptions


@pytest.fixture
def secured() -> Iterator[DevEngine]:
    auth = AuthConfig(username="demo", password="s3cret", bearer_token="tok-123")
    with DevEngine.run_in_thread(options=DevEngineOptions(auth=auth)) as dev:
        yield dev


def test_auth_is_off_by_default(dev: DevEngine) -> None:
    assert requests.get(f"{dev.rest_url}/v2/topology", timeout=5).status_code == 200


def test_missing_or_wrong_credentials_are_401(secured: DevEngine) -> None:
    url = f"{secured.rest_url}/v2/topology"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Basic"
    assert missing.json()["status"] == 401
    assert requests.get(url, auth=("demo", "wrong"), timeout=5).status_code == 401
    bad_token = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad_token.status_code == 401
    garbage = requests.get(url, headers={"Authorization": "Basic %%%"}, timeout=5)
    assert garbage.status_code == 401
    # The secret never leaks into the answer.
    assert "s3cret" not in missing.text and "tok-123" not in bad_token.text


def test_basic_and_bearer_credentials_are_accepted(secured: DevEngine) -> None:
    url = f"{secured.rest_url}/v2/process-definitions/search"
    basic = requests.post(url, json={}, auth=("demo", "s3cret"), timeout=5)
    assert basic.status_code == 200
    bearer = requests.post(url, json={}, headers={"Authorization": "Bearer tok-123"}, timeout=5)
    assert bearer.status_code == 200


def test_auth_config_repr_hides_secrets() -> None:
    text = repr(AuthConfig(username="demo", password="s3cret", bearer_token="tok-123"))
    assert "demo" in text
    assert "s3cret" not in text and "tok-123" not in text
