"""Runs against a scheduler and workers that speak TLS only, with certificates made here."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import daily_frame, dask_processes
from .test_cli import cli

pytestmark = pytest.mark.cluster


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_certificates(folder: Path, prefix: str) -> tuple[Path, Path, Path]:
    """A CA, and one certificate it signs for 127.0.0.1 / localhost, used by every party."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{prefix} test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (folder / f"{prefix}-ca.pem", folder / f"{prefix}-cert.pem", folder / f"{prefix}-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths[2])
    return paths


@pytest.mark.slow
def test_run_over_tls(tmp_path):
    frame = daily_frame(300)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "wide.csv", index=False)
    assert cli("ingest", "wide.csv", "--store", "store", cwd=tmp_path).returncode == 0
    ca, cert, key = make_certificates(tmp_path, "good")
    stranger = make_certificates(tmp_path, "stranger")
    run = ["run", "--store", str(tmp_path / "store"), "--start", "2020-08-01", "--end", "2020-10-01",
           "--batch-size-days", "30", "--lookback", "100", "--no-progress"]
    with dask_processes(tmp_path, tls=(ca, cert, key)) as cluster:
        assert cluster.address.startswith("tls://")
        secure = cli(*run, "--scheduler", cluster.address, "--tls-ca-file", ca, "--tls-cert", cert,
                     "--tls-key", key, "--output-dir", "secure", cwd=tmp_path)
        assert secure.returncode == 0, secure.stderr
        assert sum(line.startswith(("seasonal ", "walk ", "sine ")) for line in secure.stdout.splitlines()) == 9

        plain = cli(*run, "--scheduler", cluster.address, "--output-dir", "plain", cwd=tmp_path)
        assert plain.returncode == 1
        assert plain.stderr == (f"error: scheduler {cluster.address} speaks TLS: give tls_ca_file, tls_cert and "
                                "tls_key (--tls-ca-file, --tls-cert, --tls-key)\n")

        untrusted = cli(*run, "--scheduler", cluster.address, "--tls-ca-file", stranger[0],
                        "--tls-cert", stranger[1], "--tls-key", stranger[2], "--output-dir", "untrusted",
                        cwd=tmp_path)
        assert untrusted.returncode == 1
        assert untrusted.stderr.startswith("error: cannot connect") and untrusted.stderr.count("\n") == 1
