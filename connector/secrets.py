"""Secret references in element properties and the providers that resolve them.

A property may refer to a secret as ``{{secrets.NAME}}`` or, as Camunda's runtime also
accepts, as a bare ``secrets.NAME``. NAME is letters and digits, optionally separated by
single ``/``, ``.``, ``_`` or ``-`` characters. References are replaced in the property text
*before* FEEL runs, so a secret can sit anywhere in a value (``Bearer {{secrets.TOKEN}}``).

Secret values must never reach logs or error messages: errors here carry only the name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from connector.errors import ConnectorError
from connector.redaction import register

_NAME = r"[A-Za-z0-9]+(?:[/._-][A-Za-z0-9]+)*"
# The bare form must not be glued to a preceding word or path, so a URL such as
# ``https://host/secrets.json`` is not mistaken for a reference.
SECRET_PATTERN = re.compile(
    r"\{\{\s*secrets\.(?P<braced>" + _NAME + r")\s*\}\}"
    r"|(?<![A-Za-z0-9_./\-{])secrets\.(?P<bare>" + _NAME + r")"
)


class SecretNotFoundError(ConnectorError, LookupError):
    """A referenced secret is not available from the provider."""

    def __init__(self, name: str) -> None:
        super().__init__(f"secret '{name}' is not available")
        self.name = name


@runtime_checkable
class SecretProvider(Protocol):
    """Resolves a secret name to its value, or ``None`` when it does not exist."""

    def get(self, name: str) -> str | None: ...


class EnvSecretProvider:
    """Secrets from environment variables: ``secrets.NAME`` reads ``<prefix>NAME``.

    Names that contain ``/ . -`` (legal in references, awkward in environment variable
    names) fall back to the name with those characters replaced by ``_``.
    """

    def __init__(self, prefix: str = "SECRET_", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        value = self._environ.get(self.prefix + name)
        if value is None:
            value = self._environ.get(self.prefix + re.sub(r"[^A-Za-z0-9_]", "_", name))
        return value

    def __repr__(self) -> str:
        return f"EnvSecretProvider(prefix={self.prefix!r})"


class MappingSecretProvider:
    """Secrets from an in-memory mapping (tests, embedding)."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = dict(secrets)

    def get(self, name: str) -> str | None:
        return self._secrets.get(name)

    def __repr__(self) -> str:
        return f"MappingSecretProvider(<{len(self._secrets)} secrets>)"


def has_secrets(text: str) -> bool:
    """True when ``text`` contains at least one secret reference."""
    return SECRET_PATTERN.search(text) is not None


def secret_names(text: str) -> list[str]:
    """The secret names referenced in ``text``, in order of appearance."""
    return [m.group("braced") or m.group("bare") for m in SECRET_PATTERN.finditer(text)]


def replace_secrets(
    text: str,
    provider: SecretProvider,
    *,
    quote: Callable[[str, str, int], str] | None = None,
) -> str:
    """Replace every secret reference in ``text`` with its value.

    ``quote(value, text, position)`` may rewrite the value for its surroundings (FEEL
    fields use it to keep the expression well-formed). Raises :class:`SecretNotFoundError`
    naming the first missing secret; an empty value is a valid value, a missing one is not.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        value = provider.get(name)
        if value is None:
            raise SecretNotFoundError(name)
        # From here on the value is scrubbed from every log line and status document.
        register(value)
        return quote(value, text, match.start()) if quote is not None else value

    return SECRET_PATTERN.sub(substitute, text)
