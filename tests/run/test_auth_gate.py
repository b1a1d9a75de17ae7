"""auth_gate with a real SMTP server on loopback (aiosmtpd): the code arrives, a wrong code counts
an attempt, the right one verifies, expiry fails the gate (with an injected clock)."""

from __future__ import annotations

import re
import socket

import pytest
from aiosmtpd.controller import Controller

from engine.run import Runtime, Services
from engine.run.mail import MailSettings
from tests.flow.builders import edge, end, flow, node, trigger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class Inbox:
    def __init__(self) -> None:
        self.mails: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mails.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield MailSettings(host="127.0.0.1", port=port, starttls=False), inbox
    controller.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _gate(**config):
    gate = node("gate", "auth_gate", {"identity": "input.email", "ttl_s": 600, **config})
    nodes = [
        trigger(),
        gate,
        end("in", "{{ vars.verified_identity }}"),
        end("out", "{{ nodes.gate.reason }}"),
    ]
    return flow(
        nodes,
        [edge("start", "gate"), edge("gate", "in", "verified"), edge("gate", "out", "failed")],
    )


async def _code_from(inbox: Inbox, handle) -> str:
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    (mail,) = inbox.mails
    return re.search(r"Your code is (\d+)", mail).group(1)


async def test_the_code_arrives_and_a_wrong_one_costs_an_attempt(smtp):
    mail, inbox = smtp
    handle = Runtime(Services(mail=mail)).start(_gate(), {"email": "ada@example.org"})
    code = await _code_from(inbox, handle)
    assert len(code) == 6
    assert "ada@example.org" in inbox.mails[0]
    wrong = "000000" if code != "000000" else "111111"
    first = next(e for e in handle.events.history if e["type"] == "run_paused")
    handle.resume(code=wrong)
    await handle.events.wait_for(lambda e: e["type"] == "run_paused" and e["seq"] > first["seq"])
    handle.resume(code=code)
    result = await handle.result()
    assert result.output == "ada@example.org"
    pauses = [e for e in handle.events.history if e["type"] == "run_paused"]
    assert len(pauses) == 2
    assert code not in str(handle.events.history)


async def test_attempts_run_out(smtp):
    mail, inbox = smtp
    handle = Runtime(Services(mail=mail)).start(_gate(max_attempts=2), {"email": "a@b.org"})
    code = await _code_from(inbox, handle)
    bad = str((int(code) + 1) % 10**6).zfill(6)
    handle.resume(code=bad)
    handle.resume(code=bad)
    assert (await handle.result()).output == "max_attempts (2) used"


async def test_an_expired_code_fails_the_gate(smtp):
    mail, inbox = smtp
    clock = Clock()
    handle = Runtime(Services(mail=mail, clock=clock)).start(_gate(), {"email": "a@b.org"})
    code = await _code_from(inbox, handle)
    clock.now += 601
    handle.resume(code=code)
    assert (await handle.result()).output == "expired"


async def test_without_mail_settings_the_gate_fails_clearly():
    result = await Runtime().start(_gate(), {"email": "a@b.org"}).result()
    assert result.status == "failed"
    assert "mail settings" in result.error["message"]
