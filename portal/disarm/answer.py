"""The trusted side's reader of the converter's answer, fed as the bytes come out of the pipe.

The converter parses hostile documents and may have been taken over by one, so its answer is
held to the protocol exactly (portal.disarm.protocol): what it must hold is decided here from
the document's type; each record's sizes are checked before its bytes are read; pixels go into
the copy page by page as they arrive (portal.disarm.assembly), so no more than one page's raw
pixels are ever held. Anything else (a record of the wrong kind or size, a byte count that
does not match, bytes after the end) is `converter_failed`.
"""

from __future__ import annotations

from portal.disarm.assembly import Builder, Payload, builder_for, malformed
from portal.disarm.outcome import CODES, CONVERTER_FAILED, CouldNotMakeSafe, SafeCopy
from portal.disarm.protocol import CODE, RECORD_LIMIT, ProtocolError, parse_record
from portal.settings import DisarmSettings


class AnswerReader:
    """Feed it the answer's bytes (`feed`); then `safe_copy` gives the copy, or why not."""

    def __init__(self, media_type: str, settings: DisarmSettings) -> None:
        self._builder: Builder = builder_for(media_type, settings)
        self._buffer = bytearray()
        self._payload: Payload | None = None
        self.refusal: str | None = None

    @property
    def complete(self) -> bool:
        return self._builder.complete

    def feed(self, chunk: bytes) -> bool:
        """Take the next bytes; False once no more are wanted (the answer is refused)."""
        if self.refusal is not None:
            return False
        self._buffer += chunk
        try:
            self._advance()
        except CouldNotMakeSafe as refused:
            self.refusal = refused.code
            self._buffer.clear()
            self._payload = None
        return self.refusal is None

    def safe_copy(self, converter_ended: str) -> SafeCopy:
        """The safe copy; or CouldNotMakeSafe: the answer's code, a refusal here, or, for an
        answer cut short, `converter_ended` (how the converter ended: timeout, memory…)."""
        if self.refusal is not None:
            raise CouldNotMakeSafe(self.refusal)
        if not self.complete or self._payload is not None:
            raise CouldNotMakeSafe(converter_ended)
        return self._builder.result()

    def _advance(self) -> None:
        while self._buffer:
            if self.complete:
                raise malformed()  # anything after the end
            if self._payload is None:
                line = self._next_line()
                if line is None:
                    return
                self._start(line)
                continue
            taken = bytes(self._buffer[: self._payload.remaining])
            del self._buffer[: len(taken)]
            self._payload.take(taken)
            if self._payload.remaining == 0:
                payload, self._payload = self._payload, None
                payload.close()

    def _next_line(self) -> bytes | None:
        end = self._buffer.find(b"\n", 0, RECORD_LIMIT)
        if end < 0:
            if len(self._buffer) >= RECORD_LIMIT:
                raise malformed()
            return None
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return line

    def _start(self, line: bytes) -> None:
        try:
            record = parse_record(line)
        except ProtocolError:
            raise malformed() from None
        if record.kind == CODE:  # the converter could not make it: its reason, if a known one
            raise CouldNotMakeSafe(record.code if record.code in CODES else CONVERTER_FAILED)
        payload = self._builder.start(record)
        if payload is None:
            return
        if payload.remaining == 0:  # empty text
            payload.close()
        else:
            self._payload = payload
