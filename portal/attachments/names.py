"""The display name of an uploaded file (docs/attachments.md, "File names"): made once when the
upload is accepted, sealed, then shown, downloaded and delivered exactly as it is."""

from __future__ import annotations

import re
import unicodedata

# A name as long as common file systems take (in UTF-8 bytes, what is sealed), so that the
# council's download saves under the name shown.
MAX_FILENAME_BYTES = 255
_EXTENSION = re.compile(r"\.[0-9A-Za-z]{1,10}")
# Control, format, unassigned and private-use characters, and line and paragraph separators.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters Windows does not allow in a file name (the path separators go before these).
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
# Names Windows keeps for devices, with any extension and in any case: "con.pdf" is the console.
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]}
)


def clean_filename(filename: str) -> str:
    """The name to show and download as, and to deliver to the CMS, exactly as returned: the
    last path part in NFC, no control or format characters (no NUL, no newline, no right-to-left
    override making "report<RLO>fdp.exe" look like "reportexe.pdf"), no trailing dots or spaces
    (which Windows drops), none of <>:"|?* (each becomes "_"), no Windows device name ("CON.pdf"
    is "_CON.pdf"), never only an extension (".pdf" is "attachment.pdf"), and at most
    MAX_FILENAME_BYTES of UTF-8; a longer name loses the end of its stem, not its extension."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _UNSHOWN)
    name = _WINDOWS_FORBIDDEN.sub("_", name).strip().rstrip(". ")
    if name.startswith("."):
        name = "attachment" + name
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        name = "_" + name
    return _shortened(name) if name else "attachment"


def with_extension(name: str, extension: str) -> str:
    """A cleaned name given another extension (".pdf" for a safe copy of "Report.docx" makes
    "Report.pdf"), shortened by the same rules so that the new extension survives."""
    stem, dot, old = name.rpartition(".")
    kept = stem if dot and _EXTENSION.fullmatch(dot + old) else name
    return clean_filename(kept + extension)


def _shortened(name: str) -> str:
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    kept_extension = dot + extension if stem and _EXTENSION.fullmatch(dot + extension) else ""
    stem = name.removesuffix(kept_extension) if kept_extension else name
    room = MAX_FILENAME_BYTES - len(kept_extension.encode())
    # Cut on bytes; "ignore" drops a character the cut went through.
    short = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
    return (short or "attachment") + kept_extension
