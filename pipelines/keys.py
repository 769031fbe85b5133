"""Find, create and check the pseudonymisation key.

The key comes from ``$HOTSPOTS_KEY`` (at least 32 characters) or from a key file
beside the store (``<store>.key``, mode 0600) that ``hotspots init`` creates. The key
itself is never logged or written to any output; the store records only its
fingerprint, so ingesting with a different key is refused instead of silently
splitting one young person into two pseudonyms.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from analytics.errors import KeyFileError
from analytics.privacy import key_fingerprint

ENV_KEY = "HOTSPOTS_KEY"
ENV_KEY_FILE = "HOTSPOTS_KEY_FILE"


def key_file_for(db_path: Path) -> Path:
    """Default key file of a store: ``$HOTSPOTS_KEY_FILE`` or ``<store path>.key``."""
    env = os.environ.get(ENV_KEY_FILE)
    return Path(env) if env else db_path.with_name(db_path.name + ".key")


def create_key_file(path: Path) -> bool:
    """Create a random 256-bit key file with mode 0600; False if it already exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return True


def load_key(db_path: Path) -> bytes:
    """The key as bytes, from the environment or the key file; clear error when missing."""
    env = os.environ.get(ENV_KEY)
    if env is not None:
        if len(env.strip()) < 32:
            raise KeyFileError(f"{ENV_KEY} is set but shorter than 32 characters; use a long random key.")
        return env.strip().encode("utf-8")
    path = key_file_for(db_path)
    if not path.exists():
        raise KeyFileError(
            f"No pseudonymisation key: set {ENV_KEY} or create the key file with: hotspots init --db {db_path}"
        )
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KeyFileError(f"Cannot read key file {path}: {exc.strerror}.") from exc
    if len(text) < 32:
        raise KeyFileError(f"Key file {path} is malformed (shorter than 32 characters).")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"Key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return text.encode("utf-8")


def check_key(key: bytes, expected_fingerprint: str | None, db_path: Path) -> None:
    """Refuse a key whose fingerprint differs from the one the store was created with."""
    if expected_fingerprint and key_fingerprint(key) != expected_fingerprint:
        raise KeyFileError(
            f"The pseudonymisation key does not match the one store {db_path} was created with; "
            f"use the original key (or re-pseudonymise with a new key)."
        )
