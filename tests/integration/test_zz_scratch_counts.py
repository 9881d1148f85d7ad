from flask import Flask
from sqlalchemy.engine import Connection
from tests.integration.test_session_queries import statements
from tests.support.world import World, client_for, issue


def test_count(app: Flask, world: World, connection: Connection) -> None:
    reference = issue(app, world)
    lead = client_for(app, world.lead)
    lead.get(f"/inbox/{reference}")
    lead.get("/inbox")
    for path in (f"/inbox/{reference}", "/inbox", f"/inbox/{reference}"):
        with statements(connection) as ran:
            assert lead.get(path).status_code == 200
        print("\n==", path, len(ran))
        for s in ran:
            print("  ", s[:150])
