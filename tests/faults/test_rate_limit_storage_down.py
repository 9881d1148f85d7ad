"""Redis, where sign-in attempts are counted, goes down or stops answering: the portal keeps
serving every page, signing in stays limited (counted in the process's memory meanwhile), and
counting goes back to Redis once it is up again. The Redis is a private redis-server."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from portal.config import Settings
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.faults.servers import PrivateRedis
from tests.support.world import World, client_for

pytestmark = pytest.mark.postgres

LIMIT = 5
PREFIX = f"fault-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, redis_server: PrivateRedis
) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        security={
            "rate_limit_storage": redis_server.url,
            "rate_limit_key_prefix": PREFIX,
            # Per hour: no window ends while the test runs.
            "sign_in_rate_limit": f"{LIMIT} per hour",
        },
    )


def attempt(client: FlaskClient) -> int:
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    answer = client.post("/sign-in", data={"csrf_token": token, "email": "a@nowhere.test"})
    return answer.status_code


def counted_in_redis(server: PrivateRedis) -> int:
    store = server.client()
    try:
        return sum(int(store.get(key) or 0) for key in store.keys(f"*{PREFIX}*"))
    finally:
        store.close()


def pages_answer(app: Flask, world: World) -> None:
    anonymous = app.test_client()
    for path in ("/", "/sign-in", "/healthz"):
        assert anonymous.get(path).status_code == 200, path
    assert client_for(app, world.teacher).get("/inbox").status_code == 200


def test_sign_in_stays_limited_while_redis_is_down_and_counts_there_again_after(
    app: Flask, world: World, redis_server: PrivateRedis
) -> None:
    client = app.test_client()
    assert [attempt(client), attempt(client)] == [400, 400]
    assert counted_in_redis(redis_server) == 2

    redis_server.stop()
    pages_answer(app, world)
    # Counted in this process's memory from nothing: the whole limit, then refused.
    answers = [attempt(client) for _ in range(LIMIT + 1)]
    assert answers == [400] * LIMIT + [429], answers
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    page = client.post("/sign-in", data={"csrf_token": token, "email": "a@nowhere.test"})
    assert "There have been too many attempts" in page.get_data(as_text=True)
    pages_answer(app, world)

    redis_server.start()  # on the same port (the app's setting), empty: nothing on disk
    deadline = time.monotonic() + 70  # the rechecks' intervals grow to 32 seconds
    while attempt(client) == 429:
        assert time.monotonic() < deadline, "counting never went back to Redis"
        time.sleep(0.5)
    # The limit exhausted in memory no longer applies: the attempt was counted in Redis.
    assert counted_in_redis(redis_server) == 1
    pages_answer(app, world)


def test_a_redis_that_stops_answering_delays_a_sign_in_by_two_seconds_at_most(
    app: Flask, redis_server: PrivateRedis
) -> None:
    client = app.test_client()
    assert attempt(client) == 400
    assert redis_server.process is not None
    pid = redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)  # accepts connections, never answers
    answers: list[int] = []
    try:
        started = time.monotonic()
        worker = threading.Thread(target=lambda: answers.append(attempt(client)), daemon=True)
        worker.start()
        worker.join(timeout=15)
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    worker.join(timeout=15)
    assert answers == [400], "the sign-in waited on Redis instead of counting in memory"
    # Two waits of a second each; redis-py's default would be two of five seconds (10 s). The
    # bound leaves a loaded machine room and still tells them apart.
    assert took < 8, f"the sign-in waited {took:.1f}s for Redis"
