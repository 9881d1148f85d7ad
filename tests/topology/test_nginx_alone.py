"""What nginx answers by itself, from infra/nginx/portal.conf.template, with no portal
behind it (both upstream ports closed): the HTTPS redirect, the refusals it makes in the
service's words, and HSTS on all of them."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from loopback.processes import free_port
from tests.support.nginx import Nginx, loopback_values

HSTS = "max-age=31536000; includeSubDomains"


class LoneNginx:
    def __init__(self, directory: Path) -> None:
        self.https_port, self.http_port = free_port(), free_port()
        closed = (f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
        self.values = loopback_values(
            directory, https_port=self.https_port, http_port=self.http_port, upstreams=closed
        )
        self.nginx = Nginx(directory, self.values)
        self.certificate = self.values["PORTAL_TLS_CERTIFICATE"]

    def get(self, path: str) -> requests.Response:
        return requests.get(
            f"https://127.0.0.1:{self.https_port}{path}",
            verify=self.certificate,
            allow_redirects=False,
            timeout=10,
        )


@pytest.fixture(scope="module")
def lone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoneNginx]:
    running = LoneNginx(tmp_path_factory.mktemp("nginx"))
    running.nginx.start(running.https_port)
    yield running
    running.nginx.stop()


def test_plain_http_only_redirects_to_the_public_https_address(lone: LoneNginx) -> None:
    answer = requests.get(
        f"http://127.0.0.1:{lone.http_port}/requests?page=2", allow_redirects=False, timeout=10
    )
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://127.0.0.1:{lone.https_port}/requests?page=2"


def test_with_every_instance_down_people_get_the_unavailable_page(lone: LoneNginx) -> None:
    answer = lone.get("/requests")
    assert answer.status_code == 502
    assert "Sorry, the service is unavailable" in answer.text
    assert "nginx" not in answer.text
    assert answer.headers["Strict-Transport-Security"] == HSTS
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_body_over_the_limit_is_refused_before_it_is_read(lone: LoneNginx) -> None:
    context = ssl.create_default_context(cafile=lone.certificate)
    connection = http.client.HTTPSConnection(
        "127.0.0.1", lone.https_port, context=context, timeout=10
    )
    try:
        # Announce 27 MB and send none of it: nginx answers from the headers alone.
        connection.putrequest("POST", "/requests/DR-1/answer/documents")
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(27 * 1024 * 1024))
        connection.endheaders()
        answer = connection.getresponse()
        body = answer.read().decode()
    finally:
        connection.close()
    assert answer.status == 413
    assert "What you sent is too large" in body
    assert answer.getheader("Strict-Transport-Security") == HSTS


def test_a_body_within_the_limit_is_passed_on(lone: LoneNginx) -> None:
    answer = requests.post(
        f"https://127.0.0.1:{lone.https_port}/sign-in",
        data=b"x" * (25 * 1024 * 1024 + 64 * 1024),
        verify=lone.certificate,
        timeout=30,
    )
    assert answer.status_code == 502  # not 413: it went on towards the (absent) portal


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
def test_metrics_and_readiness_are_not_served_to_the_outside(lone: LoneNginx, path: str) -> None:
    answer = lone.get(path)
    assert answer.status_code == 404
    assert answer.headers["Strict-Transport-Security"] == HSTS
