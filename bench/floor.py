"""The floor: the cheapest signed-in page this stack can serve, the yardstick `make bench`
measures the portal's pages against (bench/against_floor.py).

A Flask app of a few lines, served by the same gunicorn configuration (infra/gunicorn.conf.py,
`gunicorn -c infra/gunicorn.conf.py bench.floor:app`), on the same database through the
portal's own engine settings (portal.db.make_engine), rendering the same GOV.UK layout: it
looks the browser's server-side session up, loads the person and their organisation, runs one
indexed query (the organisation's open requests, soonest due first) and renders them. Nothing
else: no ORM, no policy, no decryption, no audit, no security headers. What a portal page costs
beyond this is what the portal itself adds.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, abort, render_template, request
from flask.typing import ResponseReturnValue
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader

from bench.sessions import COOKIE
from portal.auth.sessions import token_hash
from portal.db import make_engine
from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest, Organisation, User, WebSession

SHOWN = 20

app = Flask(__name__)
app.jinja_loader = ChoiceLoader(
    [
        FileSystemLoader(Path(__file__).parent / "templates"),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ]
)
app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
engine = make_engine(os.environ["PORTAL_DATABASE__URL"])


@app.get("/healthz")
def healthz() -> ResponseReturnValue:
    return "ok"


@app.get("/floor")
def floor() -> ResponseReturnValue:
    token = request.cookies.get(COOKIE, "")
    with engine.connect() as connection:
        signed_in = connection.execute(
            sa.select(WebSession.user_id).where(
                WebSession.token_hash == token_hash(token),
                WebSession.expires_at > datetime.now(UTC),
            )
        ).scalar()
        if signed_in is None:
            abort(403)
        person = connection.execute(
            sa.select(User.display_name, User.organisation_id, Organisation.name)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(User.id == signed_in)
        ).one()
        # The (partner_organisation_id, status) index.
        requests = connection.execute(
            sa.select(DelegationRequest.reference, DelegationRequest.due_on)
            .where(
                DelegationRequest.partner_organisation_id == person.organisation_id,
                DelegationRequest.status.in_([RequestStatus.ISSUED, RequestStatus.IN_PROGRESS]),
            )
            .order_by(DelegationRequest.due_on)
            .limit(SHOWN)
        ).all()
    rows = [
        [{"text": found.reference}, {"text": found.due_on.strftime("%-d %B %Y")}]
        for found in requests
    ]
    return render_template("floor.html", person=person, rows=rows)
