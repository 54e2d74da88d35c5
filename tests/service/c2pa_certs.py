"""A throwaway C2PA certificate chain for tests: a root CA and a signing certificate it issued,
with the key usage and extended key usage C2PA requires of a claim signer (digitalSignature;
emailProtection, one of the EKUs the C2PA trust model accepts), written as PEM files.
(Imported by name: pytest puts this folder on sys.path for the test modules in it.)"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Chain:
    root_pem: str  # the trust anchor a reader is given
    cert: Path  # the signing certificate, then the root: ATELIER_C2PA_CERT
    key: Path  # the signing key, PKCS#8 PEM: ATELIER_C2PA_KEY
    common_name: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Atelier tests"),
        ]
    )


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key(kind: str) -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def _certificate(
    subject: str, issuer: x509.Name | None, public_key: Any, issuer_key: Any, *extra: Any
) -> x509.Certificate:
    """A certificate valid from yesterday for 30 days: a root (no issuer: self-signed, may
    issue) or a signing certificate issued by `issuer` with the `extra` extensions."""
    now = datetime.datetime.now(datetime.UTC)
    ca = issuer is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(subject) if issuer is None else issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(sign=not ca, ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def throwaway_chain(folder: Path, key_kind: str = "ec", common_name: str = "atelier-test") -> Chain:
    """A root (EC P-256) and a signing certificate with a `key_kind` key (ec, rsa, ed25519)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate("Atelier test root", None, root_key.public_key(), root_key)
    key = _new_key(key_kind)
    leaf = _certificate(
        common_name,
        root.subject,
        key.public_key(),
        root_key,
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
        x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
    )

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "chain.pem", folder / "signer.key"
    cert_path.write_bytes(pem(leaf) + pem(root))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Chain(pem(root).decode(), cert_path, key_path, common_name)
