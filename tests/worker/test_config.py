"""Configuration: precedence, Camunda's variable names, SaaS defaults, one message per problem."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from connector.config import (
    OPTIONS,
    ConfigError,
    add_arguments,
    load_settings,
    parse_duration,
    split_grpc_address,
)


def flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_defaults() -> None:
    settings = load_settings({}, {})
    assert settings.grpc_address == "localhost:26500"
    assert settings.rest_base == "http://localhost:8080"
    assert settings.auth_method == "none"
    assert settings.discovery_interval == 5.0
    assert settings.shard_count == 1
    assert settings.http_port is None
    assert settings.log_format == "plain"


def test_flags_win_over_environment_and_environment_over_defaults() -> None:
    env = {"ZEEBE_ADDRESS": "zeebe:26500", "CAMUNDA_REST_ADDRESS": "http://rest:8080/v2"}
    settings = load_settings(flags("--grpc-address", "cli:1234"), env)
    assert settings.grpc_address == "cli:1234"
    assert settings.rest_base == "http://rest:8080"  # a trailing /v2 is tolerated


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("CAMUNDA_CLIENT_GRPCADDRESS", "http://a:1", "grpc_address", "http://a:1"),
        ("CAMUNDA_CLIENT_GRPC_ADDRESS", "b:2", "grpc_address", "b:2"),
        ("CAMUNDA_CLIENT_REST_ADDRESS", "http://r:1", "rest_address", "http://r:1"),
        ("CAMUNDA_CLIENT_RESTADDRESS", "http://r:2", "rest_address", "http://r:2"),
        ("CAMUNDA_CLUSTER_REGION", "ham-1", "region", "ham-1"),
        ("CAMUNDA_CONNECTOR_POLLING_INTERVAL", "2500", "discovery_interval", 2.5),
        ("CONNECTOR_DISCOVERY_INTERVAL", "PT0.2S", "discovery_interval", 0.2),
        ("CONNECTOR_SHARD_COUNT", "3", "shard_count", 3),
        ("CONNECTOR_LOG_FORMAT", "JSON", "log_format", "json"),
        ("CONNECTOR_HTTP_PORT", "0", "http_port", 0),
    ],
)
def test_environment_names(name: str, value: str, field: str, expected: object) -> None:
    assert getattr(load_settings({}, {name: value}), field) == expected


def test_oauth_aliases_infer_oidc() -> None:
    env = {
        "ZEEBE_CLIENT_ID": "id",
        "ZEEBE_CLIENT_SECRET": "s3cr3t",
        "ZEEBE_AUTHORIZATION_SERVER_URL": "http://idp/token",
        "ZEEBE_TOKEN_AUDIENCE": "zeebe-api",
    }
    settings = load_settings({}, env)
    assert settings.auth_method == "oidc"
    assert (settings.client_id, settings.audience) == ("id", "zeebe-api")
    assert settings.describe()["client_secret"] == "***"
    assert "s3cr3t" not in repr(settings.describe())


def test_primary_name_beats_alias() -> None:
    env = {"CAMUNDA_CLIENT_ID": "primary", "ZEEBE_CLIENT_ID": "alias", "CAMUNDA_CLIENT_SECRET": "x"}
    env["CAMUNDA_OAUTH_URL"] = "http://idp/token"
    assert load_settings({}, env).client_id == "primary"


def test_saas_defaults_from_cluster_id() -> None:
    env = {
        "CAMUNDA_CLUSTER_ID": "abc",
        "CAMUNDA_CLIENT_ID": "id",
        "CAMUNDA_CLIENT_SECRET": "secret",
    }
    settings = load_settings({}, env)
    assert settings.saas
    assert settings.grpc_address == "abc.bru-2.zeebe.camunda.io:443"
    assert settings.rest_base == "https://bru-2.zeebe.camunda.io/abc"
    assert settings.token_url == "https://login.cloud.camunda.io/oauth/token"
    assert settings.audience == "zeebe.camunda.io"
    assert settings.auth_method == "oidc" and settings.grpc_tls


def test_basic_auth() -> None:
    env = {"CAMUNDA_CLIENT_AUTH_USERNAME": "demo", "CAMUNDA_CLIENT_AUTH_PASSWORD": "demo"}
    settings = load_settings({}, env)
    assert settings.auth_method == "basic"


def test_every_problem_is_reported_once_without_secrets() -> None:
    env = {
        "CAMUNDA_CLIENT_AUTH_METHOD": "oidc",
        "CAMUNDA_CLIENT_SECRET": "topsecret",
        "CONNECTOR_SHARD_COUNT": "2",
        "CONNECTOR_SHARD_INDEX": "2",
        "CONNECTOR_DISCOVERY_INTERVAL": "soon",
        "CAMUNDA_REST_ADDRESS": "localhost:8080",
        "CONNECTOR_LOG_FORMAT": "xml",
    }
    with pytest.raises(ConfigError) as info:
        load_settings({}, env)
    problems = info.value.problems
    text = "\n".join(problems)
    assert "topsecret" not in text
    assert any("--client-id" in p and "CAMUNDA_CLIENT_AUTH_CLIENTID" in p for p in problems)
    assert any("--token-url" in p for p in problems)
    assert any("shard-index" in p and "between 0 and 1" in p for p in problems)
    assert any("CONNECTOR_DISCOVERY_INTERVAL='soon'" in p for p in problems)
    assert any(
        "'localhost:8080' must be an absolute http:// or https:// URL" in p for p in problems
    )
    assert any("CONNECTOR_LOG_FORMAT" in p and "plain, json" in p for p in problems)
    assert len(problems) == 6


def test_bad_secret_value_is_hidden() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags("--auth-method", "basic", "--password", "hunter2"), {})
    assert "hunter2" not in str(info.value)
    assert "--username" in str(info.value)


def test_durations() -> None:
    assert parse_duration("1.5") == 1.5
    assert parse_duration("PT2M") == 120
    with pytest.raises(ValueError):
        parse_duration("P1M")  # months have no fixed length


def test_grpc_address_forms() -> None:
    assert split_grpc_address("localhost:26500") == ("localhost:26500", None)
    assert split_grpc_address("https://x.example:443") == ("x.example:443", True)
    assert split_grpc_address("http://zeebe:26500") == ("zeebe:26500", False)
    assert split_grpc_address("nonsense") is None


def test_every_option_has_a_flag_and_an_environment_name() -> None:
    for opt in OPTIONS:
        assert opt.flag.startswith("--") and opt.env and opt.help


def test_every_option_is_in_the_readme_configuration_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [opt.flag for opt in OPTIONS if f"| `{opt.flag}` |" not in readme]
    assert missing == []
