"""TLS and mutual TLS from the Python clients: an entitlement service serving gRPC over
TLS (rustls) that also accepts client certificates, with certificates made here."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import stack as services
from caixa_client import AccessReason, EntitlementClient, Tls, Unauthorized, Unavailable


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(common, key, issuer, issuer_key, *, ca=False, dns=None, usage=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def tls_service(stack, tmp_path_factory):
    """An entitlement service on TLS that takes a client certificate (its first DNS name
    is the caller) or a token; the CA and a client certificate for the caller ``web``."""
    folder: Path = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("caixa tests CA", ca_key, _name("caixa tests CA"), ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _issue("localhost", server_key, ca.subject, ca_key, dns="localhost", usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue("web", client_key, ca.subject, ca_key, dns="web", usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    for name, data in [("ca.pem", _pem(ca)), ("server.pem", _pem(server)), ("server.key", _key_pem(server_key))]:
        (folder / name).write_bytes(data)
    port = services.free_port()
    stack.spawn(
        "entitlement-tls",
        ["entitlement-service"],
        {
            "DATABASE_URL": f"sqlite://{stack.folder / 'caixa.sqlite'}?mode=rwc",
            "ENTITLEMENT_GRPC_ADDR": f"127.0.0.1:{port}",
            "BILLING_URL": stack.billing,
            "BILLING_TOKEN_FILE": str(stack.folder / "follower-token"),
            "CALLER_TOKENS_FILE": str(stack.folder / "tokens"),
            "CALLER_POLICY": services.POLICY,
            "GRPC_TLS_CERT_FILE": str(folder / "server.pem"),
            "GRPC_TLS_KEY_FILE": str(folder / "server.key"),
            "GRPC_TLS_CLIENT_CA_FILE": str(folder / "ca.pem"),
            "SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    url = f"https://localhost:{port}"
    with EntitlementClient(url, tls=Tls(root_certificates=_pem(ca)), token=services.TOKENS["web"]) as probe:
        services.wait_for("the TLS service answers", lambda: services._succeeds(lambda: probe.check("nobody")))
    return url, _pem(ca), _pem(client), _key_pem(client_key)


def test_a_token_over_tls_and_a_client_certificate_alone_are_both_answered(tls_service):
    url, ca, chain, key = tls_service

    with EntitlementClient(url, tls=Tls(root_certificates=ca), token=services.TOKENS["web"]) as by_token:
        assert by_token.check("nobody", "reports").reason == AccessReason.NO_SUBSCRIPTION
    with EntitlementClient(url, tls=Tls(root_certificates=ca, certificate_chain=chain, private_key=key)) as by_cert:
        # The caller is "web" by its certificate, which the policy lets read entitlements.
        assert by_cert.entitlements("nobody").reason == AccessReason.NO_SUBSCRIPTION


def test_without_credentials_or_trust_the_call_is_refused(tls_service):
    url, ca, _, _ = tls_service

    with EntitlementClient(url, tls=Tls(root_certificates=ca)) as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.check("nobody")
    # A server whose certificate the client does not trust is never asked.
    with EntitlementClient(url, token=services.TOKENS["web"], deadline=1.0) as untrusting:
        with pytest.raises(Unavailable):
            untrusting.check("nobody")
    # Plaintext to a TLS port gets no answer.
    plaintext = url.replace("https://", "http://")
    with EntitlementClient(plaintext, token=services.TOKENS["web"], deadline=1.0) as clear:
        with pytest.raises(Unavailable):
            clear.check("nobody")
