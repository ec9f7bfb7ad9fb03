"""Secret references and providers."""

from __future__ import annotations

import pytest

from connector.secrets import (
    EnvSecretProvider,
    MappingSecretProvider,
    SecretNotFoundError,
    SecretProvider,
    replace_secrets,
    secret_names,
)


def test_both_reference_forms() -> None:
    provider = MappingSecretProvider({"TOKEN": "t0k", "db/password": "pw"})
    assert replace_secrets("Bearer {{secrets.TOKEN}}", provider) == "Bearer t0k"
    assert replace_secrets("{{ secrets.TOKEN }}", provider) == "t0k"
    assert replace_secrets("secrets.TOKEN", provider) == "t0k"
    assert replace_secrets("x secrets.db/password y", provider) == "x pw y"
    assert replace_secrets("no reference", provider) == "no reference"


def test_paths_are_not_references() -> None:
    provider = MappingSecretProvider({})
    for text in ("https://host/secrets.json", "my.secrets.file", "mysecrets.X"):
        assert replace_secrets(text, provider) == text


def test_missing_secret_is_an_error_naming_it() -> None:
    with pytest.raises(SecretNotFoundError) as exc:
        replace_secrets("{{secrets.NOPE}}", MappingSecretProvider({"OTHER": "v"}))
    assert exc.value.name == "NOPE"
    assert "NOPE" in str(exc.value)


def test_empty_value_is_a_value() -> None:
    assert replace_secrets("[{{secrets.E}}]", MappingSecretProvider({"E": ""})) == "[]"


def test_env_provider_prefix_and_fallback() -> None:
    env = {"SECRET_TOKEN": "a", "APP_TOKEN": "b", "SECRET_db_password": "c"}
    assert EnvSecretProvider(environ=env).get("TOKEN") == "a"
    assert EnvSecretProvider(prefix="APP_", environ=env).get("TOKEN") == "b"
    assert EnvSecretProvider(environ=env).get("db/password") == "c"
    assert EnvSecretProvider(environ=env).get("MISSING") is None
    assert isinstance(EnvSecretProvider(environ=env), SecretProvider)


def test_env_provider_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_FROM_ENV", "v1")
    assert replace_secrets("{{secrets.FROM_ENV}}", EnvSecretProvider()) == "v1"


def test_names_and_quoting_hook() -> None:
    assert secret_names("{{secrets.A}} and secrets.B-c") == ["A", "B-c"]
    quoted = replace_secrets(
        "x={{secrets.A}}", MappingSecretProvider({"A": "v"}), quote=lambda v, t, p: f"<{v}@{p}>"
    )
    assert quoted == "x=<v@2>"


def test_repr_never_shows_values() -> None:
    assert "hunter2" not in repr(MappingSecretProvider({"P": "hunter2"}))
