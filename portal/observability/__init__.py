"""Observability: JSON logs with each request's id and person, Prometheus metrics for the web
app (GET /metrics, behind a token), for operators to ship, graph and alert on."""

from __future__ import annotations

from flask import Flask

from portal.observability import metrics, request_log, routes
from portal.observability.logs import configure_logging
from portal.settings import Settings

__all__ = ["configure_logging", "init_app"]


def init_app(app: Flask, settings: Settings) -> None:
    request_log.init_app(app)
    metrics.init_app(app)
    routes.load_metrics_token(app, settings)
