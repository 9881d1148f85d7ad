"""The demo's portal copy of each case holds the identifiers the reference CMS's seed holds for
its children (reference_cms/demo_identifiers.py), sealed, so the demo shows the whole path."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import Child
from reference_cms.demo_identifiers import DEMO_IDENTIFIERS, demo_identifiers
from tests.integration.test_demo import seed


def test_the_demo_children_carry_their_nhs_numbers_and_upns_sealed(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    seed(app)
    cipher = RecordCipher(keyring, db_session)
    children = list(db_session.scalars(sa.select(Child)))
    held = {
        child.cms_person_id: (
            cipher.open_text(child, "nhs_number_enc"),
            cipher.open_text(child, "upn_enc"),
        )
        for child in children
    }
    for person_id, identifiers in held.items():
        expected = demo_identifiers(person_id)
        assert identifiers == (expected.nhs_number, expected.upn)
    assert set(DEMO_IDENTIFIERS) <= set(held)
    assert held["P-102310-1"][1] is None  # Ruby Chen: no UPN, to show the warning
    plaintexts = [v.encode() for i in DEMO_IDENTIFIERS.values() for v in vars(i).values() if v]
    for child in children:
        for sealed in (child.nhs_number_enc, child.upn_enc):
            assert sealed is None or not any(text in sealed for text in plaintexts)
