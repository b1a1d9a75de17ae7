"""How runs send mail (auth_gate's codes and links): a workspace's SMTP server, or on the desktop
with no mail settings, an outbox folder of `.eml` files (like a development mail catcher)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from engine.run.context import NodeContext
from engine.run.errors import NodeError


@dataclass(frozen=True)
class MailSettings:
    """How a workspace sends mail over SMTP; the password is a vault secret's name."""

    host: str
    port: int = 587
    sender: str = "Aerostudio <no-reply@localhost>"
    starttls: bool = True
    username: str | None = None
    password_secret: str | None = None
    link_base_url: str = "http://127.0.0.1:7410"


@dataclass(frozen=True)
class Outbox:
    """Mail kept in a folder instead of sent: one `.eml` file per message, newest last by name."""

    folder: Path
    sender: str = "Aerostudio <no-reply@localhost>"
    link_base_url: str = "http://127.0.0.1:7410"

    def write(self, message: EmailMessage) -> Path:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}"
        path = self.folder / f"{stem}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(bytes(message))
        temporary.chmod(0o600)
        temporary.replace(path)
        return path


async def send_mail(ctx: NodeContext, to: str, subject: str, body: str) -> None:
    """Send a mail with the runtime's mail settings; a clear node error without any."""
    import aiosmtplib

    mail: MailSettings | Outbox | None = ctx.services.mail
    if mail is None:
        raise NodeError(f"{ctx.node.type} needs the workspace's mail settings to send mail")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = mail.sender, to, subject
    message.set_content(body)
    if isinstance(mail, Outbox):
        mail.write(message)
        return
    password = await ctx.secret(mail.password_secret) if mail.password_secret else None
    try:
        await aiosmtplib.send(
            message,
            hostname=mail.host,
            port=mail.port,
            start_tls=mail.starttls,
            username=mail.username,
            password=password,
            timeout=30,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise NodeError(f"could not send mail to {to}: {type(exc).__name__}") from None
