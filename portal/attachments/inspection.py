"""The portal's own inspection of ZIP-based documents, before and beside the scanner
(docs/attachments.md, "Inspection"). Issue 18, helper H1 writes it; this is the interface."""

from __future__ import annotations

from collections.abc import Iterable

from portal.settings import AttachmentSettings


class ContainerInspector:
    """Fed the whole file in order as it streams in (bounded memory); `verdict()` then raises
    UploadRefused for a container the portal will not take, and returns for anything else."""

    def __init__(self, settings: AttachmentSettings) -> None:
        self._settings = settings

    def feed(self, data: bytes) -> None:
        pass

    def verdict(self) -> None:
        pass


def inspect_chunks(chunks: Iterable[bytes], settings: AttachmentSettings) -> None:
    """Inspect a whole file given as chunks; raises UploadRefused."""
    inspector = ContainerInspector(settings)
    for chunk in chunks:
        inspector.feed(chunk)
    inspector.verdict()
