"""The vault: workspace secrets encrypted with AES-256-GCM, written and used, never shown.

Each value has a fresh 96-bit nonce; the workspace and the secret's name are the associated data,
so a ciphertext moved to another name or workspace does not decrypt. The master key lives in the
OS keyring, or where there is none, in a key file of mode 0600 in the data directory.
"""

from __future__ import annotations

import base64
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.store.tables import secrets

KEYRING_SERVICE = "aerostudio"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class SecretNotFound(LookupError):
    pass


class VaultCorrupt(RuntimeError):
    """A value does not decrypt: the master key changed or the row was tampered with."""


@dataclass(frozen=True)
class SecretInfo:
    """What anyone may see of a secret."""

    name: str
    created_at: float
    updated_at: float


def master_key(data_dir: Path, use_keyring: bool = True) -> bytes:
    """The 256-bit master key: from the OS keyring if one works here, else from (or into) the
    key file `<data_dir>/master.key` with mode 0600."""
    account = f"master-key:{data_dir.resolve()}"
    if use_keyring:
        stored = _from_keyring(account)
        if stored is not None:
            return stored
    path = data_dir / "master.key"
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return base64.b64decode(path.read_bytes().strip())
    key = AESGCM.generate_key(bit_length=256)
    if use_keyring and _into_keyring(account, key):
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(base64.b64encode(key) + b"\n")
    return key


def _keyring_usable() -> bool:
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and backend.priority > 0


def _from_keyring(account: str) -> bytes | None:
    import keyring

    try:
        if not _keyring_usable():
            return None
        value = keyring.get_password(KEYRING_SERVICE, account)
    except Exception:  # a keyring that is present but locked or broken: use the key file
        return None
    return base64.b64decode(value) if value else None


def _into_keyring(account: str, key: bytes) -> bool:
    import keyring

    try:
        if not _keyring_usable():
            return False
        keyring.set_password(KEYRING_SERVICE, account, base64.b64encode(key).decode())
    except Exception:
        return False
    return True


class Vault:
    def __init__(self, engine: sa.Engine, key: bytes) -> None:
        self.engine = engine
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(workspace: str, name: str) -> bytes:
        return f"aerostudio-secret\0{workspace}\0{name}".encode()

    def set(self, workspace: str, name: str, value: str) -> None:
        """Create or replace a secret; every process sees the new value at its next use (values
        are read from the database each time: a rotation needs no restart)."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(
                f"secret name '{name}': use letters, digits and underscores, not starting "
                "with a digit (at most 128)"
            )
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, value.encode(), self._aad(workspace, name))
        now = time.time()
        with self.engine.begin() as db:
            updated = db.execute(
                secrets.update()
                .where(secrets.c.workspace == workspace, secrets.c.name == name)
                .values(nonce=nonce, ciphertext=ciphertext, updated_at=now)
            )
            if updated.rowcount == 0:
                db.execute(
                    secrets.insert().values(
                        workspace=workspace,
                        name=name,
                        nonce=nonce,
                        ciphertext=ciphertext,
                        created_at=now,
                        updated_at=now,
                    )
                )

    def get(self, workspace: str, name: str) -> str:
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(secrets.c.nonce, secrets.c.ciphertext).where(
                    secrets.c.workspace == workspace, secrets.c.name == name
                )
            ).first()
        if row is None:
            raise SecretNotFound(f"workspace '{workspace}' has no secret '{name}'")
        try:
            value = self._aead.decrypt(
                row.nonce, row.ciphertext, self._aad(workspace, name)
            ).decode()
        except InvalidTag:
            raise VaultCorrupt(
                f"secret '{name}' of workspace '{workspace}' does not decrypt with this master key"
            ) from None
        return value

    async def get_secret(self, workspace: str, name: str) -> str:
        """The engine's SecretLookup."""
        return self.get(workspace, name)

    def entries(self, workspace: str) -> list[SecretInfo]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(secrets.c.name, secrets.c.created_at, secrets.c.updated_at)
                .where(secrets.c.workspace == workspace)
                .order_by(secrets.c.name)
            ).all()
        return [SecretInfo(r.name, r.created_at, r.updated_at) for r in rows]

    def delete(self, workspace: str, name: str) -> None:
        with self.engine.begin() as db:
            deleted = db.execute(
                secrets.delete().where(secrets.c.workspace == workspace, secrets.c.name == name)
            )
        if deleted.rowcount == 0:
            raise SecretNotFound(f"workspace '{workspace}' has no secret '{name}'")

    def values(self, workspace: str) -> list[str]:
        """Every secret value of a workspace, to redact them from logs and errors."""
        return [self.get(workspace, info.name) for info in self.entries(workspace)]
