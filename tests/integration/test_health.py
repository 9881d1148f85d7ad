"""/healthz and /readyz: open, revealing nothing, and honest when the database goes away."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine, make_url

from portal import create_app, db
from tests.conftest import test_settings


class TcpProxy:
    """Forwards a loopback port to the PostgreSQL server and can cut every connection, so a
    test can take the database away from a running app and give it back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open_sockets: list[socket.socket] = []
        self.accepting = True
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.accepting:
                    client.close()
                    continue
                upstream = socket.create_connection(self.target)
                self.open_sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self.lock:
            self.accepting = False
            for open_socket in self.open_sockets:
                try:
                    open_socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                open_socket.close()
            self.open_sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.accepting = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(postgresql_engine: Engine) -> Iterator[TcpProxy]:
    url = postgresql_engine.url
    tcp_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield tcp_proxy
    tcp_proxy.close()


def test_healthz_is_open_and_says_only_alive(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


def test_readyz_is_open_and_reports_each_dependency(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": True, "migrations": True, "keyring": True},
    }


def test_readyz_fails_while_the_database_is_down_and_recovers(
    proxy: TcpProxy, postgresql_engine: Engine, keyring_path: Path
) -> None:
    url = make_url(postgresql_engine.url.render_as_string(False)).set(
        host="127.0.0.1", port=proxy.port
    )
    app = create_app(test_settings(url.render_as_string(False), keyring_path))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    proxy.cut()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"]["database"] is False
    body = down.get_data(as_text=True)
    assert str(proxy.port) not in body and "postgres" not in body.lower()
    # A page that needs the database gets the "unavailable" page, not a stack trace.
    page = client.get("/sign-in/organisations")
    assert page.status_code == 503
    assert "Sorry, the service is unavailable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)

    proxy.restore()
    assert client.get("/readyz").status_code == 200
    db.database(app).engine.dispose()
