"""The vault: workspace secrets encrypted with AES-256-GCM, written and used, never shown.

Each value has a fresh 96-bit nonce; the workspace and the secret's name are the associated data,
so a ciphertext moved to another name or workspace does not decrypt. The master key lives in the
OS keyring, or where there is none, in a key file of mode 0600 in the data directory. Servers that
share one database share one key: each is given the same key file (AEROSTUDIO_MASTER_KEY_FILE),
which `aerostudio secret export-key` writes. The database keeps a check value made with its key,
so a process holding another key refuses to start instead of failing at its first secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.redaction import Redactor
from engine.store.tables import secrets, settings

KEYRING_SERVICE = "aerostudio"
KEY_FILE_ENV = "AEROSTUDIO_MASTER_KEY_FILE"
KEY_CHECK = "vault_key_check"
_KEY_CHECK_TEXT = b"aerostudio master key check"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class SecretNotFound(LookupError):
    pass


class VaultCorrupt(RuntimeError):
    """A value does not decrypt: the master key changed or the row was tampered with."""


class MasterKeyError(ValueError):
    """The master key cannot be read, or is not the one the database's secrets were written with."""


@dataclass(frozen=True)
class SecretInfo:
    """What anyone may see of a secret."""

    name: str
    created_at: float
    updated_at: float


def master_key(data_dir: Path, use_keyring: bool = True) -> bytes:
    """The 256-bit master key: from the key file AEROSTUDIO_MASTER_KEY_FILE names if set (servers
    sharing a database), else from the OS keyring if one works here, else from (or into) the
    key file `<data_dir>/master.key` with mode 0600."""
    shared = os.environ.get(KEY_FILE_ENV)
    if shared:
        return read_key_file(Path(shared))
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
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_key_file(path, key)
    return key


def read_key_file(path: Path) -> bytes:
    """A key file given to this process: 32 bytes in base64, readable by its owner only."""
    try:
        mode = path.stat().st_mode
        text = path.read_bytes().strip()
    except OSError as exc:
        raise MasterKeyError(f"{KEY_FILE_ENV}: {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise MasterKeyError(
            f"{KEY_FILE_ENV}: {path} may be read by others (mode {mode & 0o777:o}): chmod 600 it"
        )
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise MasterKeyError(
            f"{KEY_FILE_ENV}: {path} is not a master key (32 bytes in base64, as "
            "`aerostudio secret export-key` writes)"
        )
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file of mode 0600 (never over an existing file)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(base64.b64encode(key) + b"\n")


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
        self._key = key
        self._aead = AESGCM(key)
        self._redactors: dict[str, tuple[tuple[tuple[str, float], ...], Redactor]] = {}

    def check_key(self) -> None:
        """Refuse a master key other than the database's (MasterKeyError). The database keeps a
        value sealed with its key, written by the first process to start on it; for a database
        from before the check, that process first tries its key on an existing secret."""
        stored = self._key_check()
        if stored is None:
            with self.engine.connect() as db:
                sample = db.execute(sa.select(secrets.c.workspace, secrets.c.name).limit(1)).first()
            if sample is not None:
                try:
                    self.get(sample.workspace, sample.name)
                except VaultCorrupt:
                    raise self._wrong_key() from None
            nonce = os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, _KEY_CHECK_TEXT, KEY_CHECK.encode())
            try:
                with self.engine.begin() as db:
                    db.execute(
                        settings.insert().values(
                            key=KEY_CHECK, value=base64.b64encode(sealed).decode()
                        )
                    )
            except sa.exc.IntegrityError:  # another process wrote it meanwhile: check against it
                pass
            stored = self._key_check()
        sealed = base64.b64decode(stored or "")
        try:
            self._aead.decrypt(sealed[:12], sealed[12:], KEY_CHECK.encode())
        except (InvalidTag, ValueError):
            raise self._wrong_key() from None

    def _key_check(self) -> str | None:
        with self.engine.connect() as db:
            value = db.execute(sa.select(settings.c.value).where(settings.c.key == KEY_CHECK))
            return value.scalar()

    @staticmethod
    def _wrong_key() -> MasterKeyError:
        return MasterKeyError(
            "this database's secrets were written with another master key: give every process "
            f"that shares the database the same key file ({KEY_FILE_ENV}; "
            "`aerostudio secret export-key` writes one where the key is)"
        )

    def export_key(self, path: Path) -> None:
        """Write the master key to a new key file of mode 0600, for other servers."""
        write_key_file(path, self._key)

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
        """Every secret value of a workspace, to redact them from logs and errors (internal:
        never answered over the API)."""
        return [self.get(workspace, info.name) for info in self.entries(workspace)]

    async def secret_values(self, workspace: str) -> list[str]:
        """`values` for a run: its redactor and the guardrail's secrets check."""
        return self.values(workspace)

    def redactor(self, workspace: str) -> Redactor:
        """A redactor of the workspace's current values: kept while no secret of the workspace
        is added, rotated or deleted (by any process sharing the database), else rebuilt."""
        stamp = tuple((info.name, info.updated_at) for info in self.entries(workspace))
        known = self._redactors.get(workspace)
        if known is not None and known[0] == stamp:
            return known[1]
        redactor = Redactor(self.values(workspace))
        self._redactors[workspace] = (stamp, redactor)
        return redactor
