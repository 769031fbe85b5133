"""Owner-only files and folders, whatever the umask (issue 12 §7).

Personal data at rest -- the store, its WAL and snapshot, DuckDB's spill folder, the key
file, crash/error logs, audit exports and the analyst-only half of a week's outputs -- is
created owner-only: files 0600, folders 0700. ``os.open(..., 0o600)`` alone is not enough
(a file that already exists keeps its mode) and a plain ``open()`` follows the umask
(0644 with the usual 022, 0666 with 000), so every such file goes through this module:

* :func:`private_open` -- ``open()`` for a private file (created 0600, an existing file is
  made 0600 before anything is written). Use it for ``<store>.errors.log``::

      from pipelines.private_files import private_open
      with private_open(log_path, "a") as fh:
          fh.write(traceback_text)

* :func:`ensure_private_dir` -- create a folder 0700 (or tighten an existing one).
* :func:`make_private` -- chmod an existing file to 0600 (folder: 0700); missing is fine.
* :func:`owner_only_umask` -- while it is held, files that *other code* creates (DuckDB's
  WAL, spill files) are owner-only: it sets the process umask to 077 and restores the
  previous one when the last holder leaves. The store holds it while a writer connection
  is open. Shared outputs are never written while it is held.
* :func:`shared_dir_mode` -- the mode a folder of *shared* files gets (follows the umask).
"""

from __future__ import annotations

import os
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

_lock = threading.Lock()
_holders = 0
_saved_umask: int | None = None


def make_private(path: Path) -> None:
    """Make an existing file 0600 (a folder 0700); nothing happens when it does not exist."""
    path = Path(path)
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return
    wanted = PRIVATE_DIR_MODE if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE_MODE
    if stat.S_IMODE(st.st_mode) != wanted:
        os.chmod(path, wanted)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents, which follow the umask) as an owner-only folder 0700;
    an existing folder is tightened to 0700. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask; an old folder keeps its mode
    return path


def private_open(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> IO:
    """``open(path, mode)`` for a private file: created 0600 whatever the umask, and an existing
    file is set to 0600 before anything is written. ``mode`` is one of ``w``, ``a``, ``x`` with
    an optional ``b`` (binary: ``encoding`` is ignored)."""
    path = Path(path)
    base = mode.replace("b", "").replace("+", "")
    flags = {"w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
             "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}.get(base)
    if flags is None:
        raise ValueError(f"private_open writes files; mode {mode!r} is not one of w, a, x (+ b).")
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        raise


def fsync_dir(path: Path) -> None:
    """fsync a folder, so a rename or unlink inside it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(Path(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """fsync a file's content to disk."""
    fd = os.open(Path(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    with _lock:
        if _saved_umask is not None:
            return _saved_umask
        mask = os.umask(0o077)
        os.umask(mask)
        return mask


def shared_dir_mode() -> int:
    """Mode of a folder of shared files: 0777 filtered by the user's umask (0755 with 022)."""
    return 0o777 & ~current_umask()


def shared_file_mode() -> int:
    """The mode a shared output file gets: what the umask allows (files written by libraries such as
    GDAL/SQLite pick their own mode, so published shared files are set to this explicitly)."""
    return 0o666 & ~current_umask()


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Hold umask 077 (files 0600, folders 0700 by default) for the block; re-entrant, and the
    previous umask is restored when the last holder leaves."""
    acquire_owner_only_umask()
    try:
        yield
    finally:
        release_owner_only_umask()


def acquire_owner_only_umask() -> None:
    """Start holding umask 077 (see :func:`owner_only_umask`); pair with :func:`release_owner_only_umask`."""
    global _holders, _saved_umask
    with _lock:
        if _holders == 0:
            _saved_umask = os.umask(0o077)
        _holders += 1


def release_owner_only_umask() -> None:
    """Stop holding umask 077; the last holder restores the umask it replaced."""
    global _holders, _saved_umask
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _saved_umask is not None:
            os.umask(_saved_umask)
            _saved_umask = None
