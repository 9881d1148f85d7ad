"""Inspection: `portal routes`."""

from __future__ import annotations

import click

from portal.cli.base import MAX_LINE, app_context, cli


@cli.command("routes", help="List every route and who may use it.")
def routes() -> None:
    from portal.auth.policy import rule_for

    with app_context() as app:
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            access = rule_for(app, rule.endpoint)
            methods = ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
            who = access.description if access else "NOBODY (no access rule)"
            click.echo(f"{rule.rule:<32} {methods:<10} {who}"[:MAX_LINE])
