"""Support of the connection tests: throwaway certificates and a protected dev engine."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.devengine.oauth import OAuthServerConfig
from connector.devengine.rest import AuthConfig
from connector.devengine.server import DevEngine, DevEngineOptions, TlsFiles

CLIENT_ID = "worker"
CLIENT_SECRET = "s3cret-value-never-logged"
AUDIENCE = "orchestration-api"


@dataclass(frozen=True)
class Pki:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(str(self.cert), str(self.key))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(directory: Path, label: str = "test") -> Pki:
    """Generate a CA and a server certificate (EC keys: fast to generate)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} CA"))
        .issuer_name(_name(f"{label} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / f"{label}-ca.pem", directory / f"{label}-cert.pem", directory / "key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def oauth_options(
    *,
    audience: str | None = AUDIENCE,
    lifetime: float = 300.0,
    tls: TlsFiles | None = None,
) -> DevEngineOptions:
    return DevEngineOptions(
        oauth=OAuthServerConfig(CLIENT_ID, CLIENT_SECRET, audience, lifetime), tls=tls
    )


def basic_options(tls: TlsFiles | None = None) -> DevEngineOptions:
    return DevEngineOptions(auth=AuthConfig(username="demo", password="demo-pass"), tls=tls)


@contextmanager
def engine(options: DevEngineOptions) -> Iterator[DevEngine]:
    with DevEngine.run_in_thread("127.0.0.1", options=options) as dev:
        yield dev


def oauth_flags(
    dev: DevEngine, *, secret: str = CLIENT_SECRET, audience: str = AUDIENCE
) -> list[str]:
    assert dev.token_url is not None
    return [
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        secret,
        "--token-url",
        dev.token_url,
        "--audience",
        audience,
    ]
