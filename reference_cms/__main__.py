"""Run the reference CMS: `python -m reference_cms --data-dir DIR --client-id ID ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from reference_cms.app import create_app

log = logging.getLogger("reference_cms")


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status only: never query strings, headers, bodies or tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, urlsplit(self.path).path, code)


def make_cms_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server for the app; port 0 picks a free port."""
    return make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reference_cms", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret-file", type=Path, required=True)
    parser.add_argument("--faults", action="store_true", help="enable /_faults and /_records")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        client_secret = arguments.client_secret_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        sys.exit(f"cannot read the client secret file: {error.strerror}")
    if not client_secret:
        sys.exit("the client secret file is empty")
    app = create_app(
        arguments.data_dir,
        arguments.client_id,
        client_secret,
        faults_enabled=arguments.faults,
    )
    server = make_cms_server(app, arguments.host, arguments.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if arguments.faults:
        log.warning("fault injection is enabled: never use this mode outside tests")
    print(f"ready http://{arguments.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
