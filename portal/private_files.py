"""Files only their owner may read (the keyring, the session secret): created atomically with
mode 600 and never overwritten; refused when missing, exposed or not a regular file."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class PrivateFileError(Exception):
    """The file cannot be used; the message is one sentence saying what to do."""


def read_private_file(path: Path, what: str, create_command: str, max_size: int) -> bytes:
    """Read `path`, refusing it unless it is a regular file only its owner can access.

    `what` names the file in messages ("Keyring file"); `create_command` says how to make one.
    """
    fd = _open(path, what, create_command)
    try:
        # Checked on the open descriptor, so the file cannot be swapped between check and read.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PrivateFileError(
                f"{what} {path} is not a regular file: check the configured path."
            )
        if os.name == "posix" and mode & 0o077:
            raise PrivateFileError(
                f"{what} {path} is accessible to group or others (mode "
                f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}` so only its owner can read it."
            )
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(max_size + 1)
    finally:
        os.close(fd)
    if len(data) > max_size:
        raise PrivateFileError(
            f"{what} {path} is larger than {max_size} bytes: check the configured path."
        )
    return data


def write_new_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 600 (parents 700), atomically; FileExistsError if it exists."""
    if path.exists() or path.is_symlink():
        raise FileExistsError(path)
    for directory in [*reversed(path.parent.parents), path.parent]:
        if not directory.exists():
            directory.mkdir(mode=0o700, exist_ok=True)
    # Write a private temporary file, then hard-link it into place: readers never see a
    # half-written file, and link() fails rather than overwriting an existing one.
    temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if os.name == "posix":
        directory_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


def _open(path: Path, what: str, create_command: str) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise PrivateFileError(
            f"No {what.lower()} at {path}: create one with `{create_command}`."
        ) from None
    except PermissionError:
        raise PrivateFileError(
            f"Cannot read {what.lower()} {path}: run the portal as the file's owner and keep it "
            f"private with `chmod 600 {path}`."
        ) from None
    except OSError as exc:
        raise PrivateFileError(
            f"Cannot open {what.lower()} {path} ({exc.strerror}): check the configured path."
        ) from None


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable: the directory's entry is synced too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
