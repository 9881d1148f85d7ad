"""Debian's nginx run from the project's own infra/nginx/portal.conf.template, for tests.

The template is rendered as an operator would (its ${PORTAL_*} placeholders, and nothing
else), wrapped in the few process-level lines a private, foreground nginx needs (its pid
file, logs and temporary directories under a directory of its own), and started with
`nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`. A self-signed certificate for 127.0.0.1
stands in for the real one.

`make test` installs Debian's nginx first. Without it the tests that need it are skipped,
unless CI=true, when they fail.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loopback.processes import PROJECT_ROOT, wait_until

NGINX = Path("/usr/sbin/nginx")
TEMPLATE = PROJECT_ROOT / "infra" / "nginx" / "portal.conf.template"
PLACEHOLDER = re.compile(r"\$\{(PORTAL_[A-Z_]+)\}")
# Where nginx would put request and response bodies that do not fit its memory buffers.
# The template turns buffering off, so these must stay unused (nginx warns when it uses them).
TEMPORARY_DIRECTORIES = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
BUFFERED_TO_DISK = "buffered to a temporary file"


def require_nginx() -> Path:
    if not os.access(NGINX, os.X_OK):
        message = "nginx is not installed (make test installs Debian's nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return NGINX


def placeholders() -> set[str]:
    """The ${PORTAL_*} names the template asks for."""
    return set(PLACEHOLDER.findall(TEMPLATE.read_text(encoding="utf-8")))


def render_template(values: dict[str, str]) -> str:
    """The template with every placeholder filled in: all of them, and nothing else."""
    wanted = placeholders()
    assert set(values) == wanted, f"placeholders {sorted(wanted)}, given {sorted(values)}"
    text = TEMPLATE.read_text(encoding="utf-8")
    return PLACEHOLDER.sub(lambda found: values[found.group(1)], text)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate (its own CA) for 127.0.0.1 and localhost, valid for a day, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "tls.crt", directory / "tls.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return certificate_path, key_path


def loopback_values(
    directory: Path, *, https_port: int, http_port: int, upstreams: tuple[str, str]
) -> dict[str, str]:
    """The template's placeholders for nginx on 127.0.0.1 with a self-signed certificate in
    `directory`, in front of two gunicorn instances at `upstreams` (host:port)."""
    certificate, key = self_signed_certificate(directory)
    return {
        "PORTAL_SERVER_NAME": "127.0.0.1",
        "PORTAL_PUBLIC_HOST": f"127.0.0.1:{https_port}",
        "PORTAL_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "PORTAL_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "PORTAL_TLS_CERTIFICATE": str(certificate),
        "PORTAL_TLS_CERTIFICATE_KEY": str(key),
        "PORTAL_ACCESS_LOG": str(directory / "access.log"),
        "PORTAL_WEB_A": upstreams[0],
        "PORTAL_WEB_B": upstreams[1],
    }


def write_config(directory: Path, values: dict[str, str]) -> Path:
    """nginx.conf in `directory`: a private process around the rendered template."""
    for name in TEMPORARY_DIRECTORIES:
        (directory / name).mkdir(exist_ok=True)
    (directory / "portal.conf").write_text(render_template(values), encoding="utf-8")
    temporary = "\n".join(
        f"    {name}_temp_path {directory / name};" for name in TEMPORARY_DIRECTORIES
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"""pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
worker_processes 1;
events {{
    worker_connections 256;
}}
http {{
    default_type application/octet-stream;
{temporary}
    include {directory / "portal.conf"};
}}
""",
        encoding="utf-8",
    )
    return config


def check_config(directory: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`nginx -t` over the rendered template."""
    config = write_config(directory, values)
    return subprocess.run(
        [str(require_nginx()), "-t", "-q", "-p", str(directory), "-e", str(directory / "error.log")]
        + ["-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


class Nginx:
    """A private nginx in the foreground, its output in `directory`/nginx.log."""

    def __init__(self, directory: Path, values: dict[str, str]) -> None:
        self.directory = directory
        self.config = write_config(directory, values)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, port: int) -> Nginx:
        command = [str(require_nginx()), "-p", str(self.directory)]
        command += ["-e", str(self.error_log), "-c", str(self.config), "-g", "daemon off;"]
        with (self.directory / "nginx.log").open("a") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        wait_until(lambda: self._listening(port), 20, "nginx to listen")
        return self

    def _listening(self, port: int) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nginx stopped while starting:\n{self.errors()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def errors(self) -> str:
        return self.error_log.read_text(encoding="utf-8", errors="replace")

    def disk_writes(self) -> list[str]:
        """Error-log lines where nginx buffered a body to a temporary file, or tried to (when
        it runs as root its workers are `nobody`, who cannot reach a private directory)."""
        paths = tuple(str(self.directory / name) for name in TEMPORARY_DIRECTORIES)
        return [
            line
            for line in self.errors().splitlines()
            if BUFFERED_TO_DISK in line or any(path in line for path in paths)
        ]

    def access_log(self) -> str:
        return (self.directory / "access.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # finish what is in flight, then stop
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
