"""gunicorn settings for the portal. Override with GUNICORN_CMD_ARGS or flags."""

import os

wsgi_app = "portal.wsgi:app"
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("PORTAL_WEB_WORKERS", "2"))
worker_class = "sync"
timeout = 60
graceful_timeout = 30
# Load the app in the master first: a configuration error stops start-up once, clearly,
# instead of every worker failing in turn.
preload_app = True
accesslog = "-"
# Paths only, never query strings: a query string could carry something personal.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
