"""A development SMTP server: it accepts every e-mail on loopback and saves each one in a
directory as an .eml file, so the demo's e-mail can be read without a real relay."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MailDirectory:
    """An aiosmtpd handler that writes each message it receives to `directory`."""

    def __init__(self, directory: Path, on_saved: Callable[[Path], None] | None = None) -> None:
        self.directory = directory
        self.on_saved = on_saved

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        path = self.save(data)
        if self.on_saved is not None:
            self.on_saved(path)
        return "250 Message accepted for delivery"

    def save(self, data: bytes) -> Path:
        """Write one message (mode 600), whole or not at all: readers never see half a file."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        temporary = path.with_name(f".{path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
        return path


def serve(
    host: str,
    port: int,
    directory: Path,
    stop: threading.Event,
    on_saved: Callable[[Path], None] | None = None,
) -> None:
    """Receive e-mail on host:port until `stop` is set."""
    controller = Controller(MailDirectory(directory, on_saved), hostname=host, port=port)
    controller.start()
    try:
        stop.wait()
    finally:
        controller.stop()
