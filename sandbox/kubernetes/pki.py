"""The control plane's keys and certificates, made with the ``openssl`` command once per directory.

A CA, the API server's serving certificate (for 127.0.0.1, ``localhost`` and the in-cluster names of
the ``kubernetes`` Service), and the service-account signing key pair. Clients authenticate with
bearer tokens (:mod:`sandbox.kubernetes.controlplane`), so no client certificates are made.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_IP = "10.96.0.1"
"""The first address of the Service range: the ``kubernetes`` Service's ClusterIP."""
_SANS = ("IP:127.0.0.1", f"IP:{SERVICE_IP}", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
         "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local")  # fmt: skip


@dataclass(frozen=True)
class Pki:
    """Paths of the files :func:`ensure_pki` made."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed in {cwd}: {result.stderr.strip()}")


def ensure_pki(directory: Path) -> Pki:
    """Make the files in ``directory`` unless they are all there already."""
    pki = Pki(Path(directory))
    wanted = (pki.ca_cert, pki.ca_key, pki.serving_cert, pki.serving_key, pki.service_account_key,
              pki.service_account_pub)  # fmt: skip
    if all(path.is_file() for path in wanted):
        return pki
    if shutil.which("openssl") is None:
        raise RuntimeError(
            "the control plane's certificates need the openssl command (Debian package openssl)"
        )
    d = pki.directory
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "3650", "-subj", "/CN=serinus-sandbox-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver", cwd=d)  # fmt: skip
    (d / "apiserver.ext").write_text(
        f"subjectAltName={','.join(_SANS)}\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", "3650", "-extfile", "apiserver.ext", cwd=d)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    for path in (pki.ca_key, pki.serving_key, pki.service_account_key):
        path.chmod(0o600)
    return pki
