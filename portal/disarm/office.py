"""Office documents: LibreOffice (headless) converts them to PDF, whose pages are then rendered.

Each conversion gets a new LibreOffice user profile in a private directory in memory
(/dev/shm, mode 0700), made for it and removed after it with the document and the PDF; nothing
touches a disk. The caller of the converter process makes and removes that directory, so it
goes even when the converter is killed. The profile is written before LibreOffice first starts,
with macros switched off (never run, whatever the document says), pictures linked from outside
the document not loaded (the untrusted-referer block: without it LibreOffice draws a linked
file:/// picture from this machine into the PDF), links to other documents never updated and
Java off. The converter's sandbox
(portal.disarm.bubblewrap: namespaces, its own file system, limits) holds LibreOffice too: it is
a child of the converter process, and its temporary files go to the sandbox's own /tmp.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from portal.disarm.outcome import (
    CONVERTER_FAILED,
    CONVERTER_MISSING,
    OUTPUT_TOO_LARGE,
    SANDBOX_UNAVAILABLE,
    UNREADABLE,
    CouldNotMakeSafe,
)
from portal.disarm.sandbox import stopped_by_signal
from portal.settings import DisarmSettings

# mkdtemp makes a new directory there that only this user can enter.
MEMORY_DIRECTORY = Path("/dev/shm")  # noqa: S108
_SETTINGS = (
    ("org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    ("org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("org.openoffice.Office.Java/VirtualMachine", "Enable", "false"),
    # Never update links to other files when loading (Writer: 0 never; Calc: 1 never).
    ("org.openoffice.Office.Writer/Content/Update", "Link", "0"),
    ("org.openoffice.Office.Calc/Content/Update", "Link", "1"),
    ("org.openoffice.Setup/Office", "ooSetupFirstStartWizard", "false"),
)


def office_to_pdf(
    plaintext: bytes, extension: str, settings: DisarmSettings, directory: Path
) -> bytes:
    """`plaintext` converted to PDF in `directory` (private, in memory: private_directory)."""
    program = shutil.which(settings.libreoffice)
    if program is None:
        raise CouldNotMakeSafe(CONVERTER_MISSING)
    profile = directory / "profile"
    _write_profile(profile)
    source = directory / f"document{extension}"
    source.write_bytes(plaintext)
    ended = subprocess.run(  # noqa: S603 (the program and arguments are the portal's own)
        _command(program, profile, source, directory / "out"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
        env=_environment(directory),
        check=False,
    )
    return _converted(directory / "out" / "document.pdf", ended.returncode, settings)


def _environment(directory: Path) -> dict[str, str]:
    # Its temporary files (lu*.tmp) go to the sandbox's own /tmp, in memory, which goes with
    # the sandbox however the conversion ends (portal.disarm.bubblewrap).
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "TMPDIR": "/tmp",  # noqa: S108
    }


def _command(program: str, profile: Path, source: Path, out: Path) -> list[str]:
    return [
        program,
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--nodefault",
        "--nologo",
        f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to",
        "pdf",
        "--outdir",
        str(out),
        str(source),
    ]


def _converted(path: Path, returncode: int, settings: DisarmSettings) -> bytes:
    if returncode < 0:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_exhausted = used.ru_utime + used.ru_stime >= settings.cpu_seconds
        raise CouldNotMakeSafe(stopped_by_signal(-returncode, cpu_exhausted))
    if not path.is_file():
        # LibreOffice ends normally, having made nothing, when it cannot load the document.
        raise CouldNotMakeSafe(UNREADABLE if returncode == 0 else CONVERTER_FAILED)
    if path.stat().st_size > settings.max_output_bytes:
        raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
    return path.read_bytes()


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A new directory in memory that only this user can enter, removed afterwards."""
    if not MEMORY_DIRECTORY.is_dir():
        raise CouldNotMakeSafe(SANDBOX_UNAVAILABLE)
    directory = Path(tempfile.mkdtemp(prefix="portal-disarm-", dir=MEMORY_DIRECTORY))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_profile(profile: Path) -> None:
    items = "".join(
        f'<item oor:path="/{path}"><prop oor:name="{name}" oor:op="fuse">'
        f"<value>{value}</value></prop></item>\n"
        for path, name, value in _SETTINGS
    )
    user = profile / "user"
    user.mkdir(parents=True)
    (user / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{items}</oor:items>\n",
        encoding="utf-8",
    )
