"""A real RFC 3161 time-stamping authority on loopback, for the tests and the demo.

OpenSSL's `ts -reply` signs each request with a TSA certificate (extendedKeyUsage
timeStamping, critical) issued by a root CA of its own; both are made in the given directory
on first start and reused after. `python -m loopback.tsa --directory D --port P` serves it
over HTTP on 127.0.0.1 and prints `ready http://127.0.0.1:<port>` once it listens (port 0:
any free port). `LoopbackTsa` runs it in its own process, restartable on the same port, so
that a test can stop it to see the portal wait and start it again to see it catch up.
"""

from __future__ import annotations

import argparse
import datetime
import re
import signal
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from loopback.processes import PROJECT_ROOT

MAX_QUERY_BYTES = 64 * 1024
ROOT_FILE = "tsa-root.pem"
_CONFIG = """\
[ tsa ]
default_tsa = loopback_tsa

[ loopback_tsa ]
serial = {directory}/tsa-serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.3.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Partner portal loopback"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certificates(directory: Path) -> None:
    """A root CA and a TSA certificate it issued, unless the directory has them already."""
    if (directory / ROOT_FILE).exists():
        return
    root_key = ec.generate_private_key(ec.SECP256R1())
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        _certificate("Loopback TSA root", root_key, ("Loopback TSA root", root_key))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    tsa = (
        _certificate("Loopback TSA", tsa_key, ("Loopback TSA root", root_key))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tsa-key.pem").write_bytes(_pem_key(tsa_key))
    (directory / "tsa-certificate.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.cnf").write_text(_CONFIG.format(directory=directory), encoding="utf-8")
    (directory / "tsa-serial").write_text("01\n", encoding="ascii")
    # Written last: its presence says the rest is complete.
    (directory / ROOT_FILE).write_bytes(root.public_bytes(serialization.Encoding.PEM))


class _Signer:
    """`openssl ts -reply` over one query; one at a time, as OpenSSL updates its serial file.

    The reply carries the TSA's certificate alone (no `-chain`): OpenSSL writes a token's
    certificates as a SET in the order given, not sorted as DER wants, and rfc3161-client
    refuses such a set; the root is the reader's trust anchor anyway."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()

    def reply(self, query: bytes) -> bytes | None:
        directory = self.directory
        with self.lock, tempfile.TemporaryDirectory(dir=directory) as scratch:
            query_file = Path(scratch) / "query.tsq"
            reply_file = Path(scratch) / "reply.tsr"
            query_file.write_bytes(query)
            finished = subprocess.run(  # noqa: S603 - a fixed command on our own files
                [  # noqa: S607 - openssl from the PATH, as the machine installs it
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(directory / "tsa.cnf"),
                    "-queryfile",
                    str(query_file),
                    "-signer",
                    str(directory / "tsa-certificate.pem"),
                    "-inkey",
                    str(directory / "tsa-key.pem"),
                    "-out",
                    str(reply_file),
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if finished.returncode != 0 or not reply_file.exists():
                sys.stderr.write(finished.stderr.decode(errors="replace"))
                return None
            return reply_file.read_bytes()


def _handler(signer: _Signer) -> type[BaseHTTPRequestHandler]:
    class TimestampHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415, "application/timestamp-query only")
                return
            if not 0 < length <= MAX_QUERY_BYTES:
                self.send_error(413, "a time-stamp query is at most 64 KiB")
                return
            answer = signer.reply(self.rfile.read(length))
            if answer is None:
                self.send_error(400, "openssl could not answer that query")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            sys.stderr.write(f"tsa: {format % args}\n")

    return TimestampHandler


def serve(directory: Path, port: int) -> None:
    make_certificates(directory)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(_Signer(directory)))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    with server:
        server.serve_forever()


class LoopbackTsa:
    """The loopback TSA in its own process; `stop()` makes it unreachable, `start()` brings
    it back on the same port with the same certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    @property
    def trust_roots_pem(self) -> bytes:
        return (self.directory / ROOT_FILE).read_bytes()

    def start(self) -> LoopbackTsa:
        command = [sys.executable, "-m", "loopback.tsa", "--directory", str(self.directory)]
        command += ["--port", str(self.port)]
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "tsa.log").open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own module
                command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=PROJECT_ROOT
            )
        if self.process.stdout is None:
            raise AssertionError("the loopback TSA has no output to read")
        line = self.process.stdout.readline()
        self.process.stdout.close()
        ready = re.fullmatch(r"ready (http://127\.0\.0\.1:(\d+))\n", line)
        if not ready:
            self.stop()
            raise AssertionError(f"the loopback TSA did not start; see {self.directory}/tsa.log")
        self.url, self.port = ready.group(1), int(ready.group(2))
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An RFC 3161 TSA on loopback (openssl ts).")
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args(arguments)
    serve(options.directory.resolve(), options.port)


if __name__ == "__main__":
    main()
