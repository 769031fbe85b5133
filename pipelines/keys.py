"""Find, create and check the pseudonymisation key (or key chain).

The key comes from ``$HOTSPOTS_KEY`` (one line, at least 32 characters) or from a key
file beside the store (``<store>.key``, mode 0600) that ``hotspots init`` creates. The
key itself is never logged or written to any output; the store records only its
fingerprint, so ingesting with a different key is refused instead of silently
splitting one young person into two pseudonyms.

Key chains (after ``hotspots rekey``). Raw references are never stored, so a new key
cannot be applied to them; instead ``rekey`` maps every stored pseudonym ``p`` to
``HMAC(new_key, p)`` and the key file then holds the chain ``old`` then ``new``, one key
per line. Ingest applies the keys in order -- ``HMAC(new, HMAC(old, raw))`` -- which is
exactly what the store holds, so a young person keeps one pseudonym across the rekey.
A chain is passed around as the key file's bytes (keys joined by ``\\n``); a one-key
chain is the plain key, so stores that were never rekeyed are unaffected.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Iterable

from analytics.errors import KeyFileError
from analytics.privacy import key_fingerprint, pseudonymise
from pipelines.private_files import private_open

ENV_KEY = "HOTSPOTS_KEY"
ENV_KEY_FILE = "HOTSPOTS_KEY_FILE"
MIN_KEY_CHARS = 32


def key_file_for(db_path: Path) -> Path:
    """Default key file of a store: ``$HOTSPOTS_KEY_FILE`` or ``<store path>.key``."""
    env = os.environ.get(ENV_KEY_FILE)
    return Path(env) if env else db_path.with_name(db_path.name + ".key")


def create_key_file(path: Path) -> bool:
    """Create a random 256-bit key file with mode 0600; False if it already exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with private_open(path, "x") as fh:  # 0600 whatever the umask
        fh.write(secrets.token_hex(32) + "\n")
    return True


def chain_keys(chain: bytes) -> list[bytes]:
    """The keys of a chain, oldest first."""
    return chain.split(b"\n")


def join_chain(keys: Iterable[bytes]) -> bytes:
    return b"\n".join(keys)


def pseudonymise_chain(values: list[str], chain: bytes) -> list[str]:
    """Pseudonyms under a key chain: HMAC with each key in turn (one key = plain HMAC)."""
    for key in chain_keys(chain):
        values = pseudonymise(values, key)
    return values


def check_key_text(text: str, where: str) -> None:
    """Raise :class:`KeyFileError` (naming ``where``) unless ``text`` is a usable key: long enough,
    printable, no whitespace."""
    if len(text) < MIN_KEY_CHARS:
        raise KeyFileError(f"{where} is malformed: a key is shorter than {MIN_KEY_CHARS} characters.")
    if any(ch.isspace() for ch in text) or not text.isprintable():
        raise KeyFileError(f"{where} is malformed: a key contains spaces or control characters.")


def read_key_file(path: Path, what: str = "Key file") -> bytes:
    """A key file's chain (one key per line, oldest first): refused when missing, unreadable,
    readable by group/others, or malformed. The mode is checked before the key is read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist.") from None
    except OSError as exc:
        raise KeyFileError(f"Cannot read {what.lower()} {path}: {exc.strerror}.") from exc
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{what} {path} is not a regular file.")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{what} {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"Cannot read {what.lower()} {path}: {exc.strerror}.") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"{what} {path} is malformed: it is not text (UTF-8).") from None
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if not lines or lines == [""]:
        raise KeyFileError(f"{what} {path} is malformed: it is empty.")
    for line in lines:
        check_key_text(line, f"{what} {path}")
    if len(set(lines)) != len(lines):
        raise KeyFileError(f"{what} {path} is malformed: the same key appears twice.")
    return join_chain(line.encode("utf-8") for line in lines)


def load_key(db_path: Path) -> bytes:
    """The key (chain) as bytes, from the environment or the key file; clear error when missing."""
    env = os.environ.get(ENV_KEY)
    if env is not None:
        value = env.strip()
        if len(value) < MIN_KEY_CHARS:
            raise KeyFileError(f"{ENV_KEY} is set but shorter than {MIN_KEY_CHARS} characters; use a long random key.")
        if "\n" in value or "\r" in value:
            raise KeyFileError(f"{ENV_KEY} must be one line; a rekeyed store's key chain lives in its key file.")
        return value.encode("utf-8")
    path = key_file_for(db_path)
    if not path.exists() and not path.is_symlink():
        raise KeyFileError(
            f"No pseudonymisation key: set {ENV_KEY} or create the key file with: hotspots init --db {db_path}"
        )
    return read_key_file(path)


def chain_fingerprints(chain: bytes) -> list[str]:
    """Fingerprint of each key of a chain (for messages: which keys match)."""
    return [key_fingerprint(k) for k in chain_keys(chain)]


def check_key(key: bytes, expected_fingerprint: str | None, db_path: Path,
              expected_chain: str | None = None) -> None:
    """Refuse a key (chain) whose fingerprint differs from the one the store was created/rekeyed with."""
    if expected_fingerprint and key_fingerprint(key) != expected_fingerprint:
        pending = key_file_for(db_path)
        pending = pending.with_name(pending.name + ".pending")
        if pending.exists():
            hint = (f"a rekey was interrupted after the store was rekeyed; its new key chain is in {pending}: "
                    f"move it over {key_file_for(db_path)}.")
        elif expected_chain and len(expected_chain.split(",")) > 1:
            hint = (f"the store was rekeyed and needs its key chain of {len(expected_chain.split(','))} keys "
                    f"(one per line, oldest first, in its key file).")
        else:
            hint = "use the original key (or, if the store was rekeyed, its key chain file)."
        raise KeyFileError(
            f"The pseudonymisation key does not match the one store {db_path} was created with; {hint}"
        )
