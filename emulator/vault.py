"""Secrets at rest: one Fernet key per state dir seals every secret the emulator writes to a file.

Real orgs encrypt consumer secrets, principal credentials and private keys at rest; so does the
emulator. The key is `<state_dir>/secrets.key` (0600), made on first use. It is the one key in
plain text under the state dir, as the Salesforce CLI keeps its `key.json` beside the logins it
encrypts: a copied SQLite file, journal or orgs.json alone gives away no secret.

Clients of the emulator (the test fixtures, orglink's `emulator` auth mode) read sealed values
from orgs.json and open them with the same key; the format is plain Fernet, so a client needs
`cryptography` and the key file, not this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secrets.key"


class VaultError(Exception):
    pass


def key_path(state_dir: Path) -> Path:
    return Path(state_dir) / KEY_FILE


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first; use theirs
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key())


class Vault:
    """Seal and open text with the state dir's key (created if missing)."""

    def __init__(self, state_dir: Path, create: bool = True) -> None:
        path = key_path(state_dir)
        if create and not path.exists():
            _create_key(path)
        try:
            self.key = path.read_bytes().strip()
            self._fernet = Fernet(self.key)
        except (OSError, ValueError) as exc:
            raise VaultError(f"cannot read the emulator's key {path}: {type(exc).__name__}") from None

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise VaultError("a sealed value does not open with this state dir's key") from None

    def is_sealed(self, text: str) -> bool:
        try:
            self._fernet.decrypt(text.encode())
        except (InvalidToken, ValueError):
            return False
        return True

    def seal_bytes(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open_bytes(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise VaultError("a sealed value does not open with this state dir's key") from None
