"""A real SMTP server (aiosmtpd) on a free loopback port, and settings that send to it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from django.db import connections

from devtools.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]

    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0  # seconds before answering each message (a slower server)
    # Hold every answer until this many connections have each sent a message (at most 20 s),
    # so concurrent senders are sure to overlap however their start-up times differ.
    wait_for_connections: int = 0
    _peers: set = field(default_factory=set)

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self._peers.add(session.peer)
        deadline = time.monotonic() + 20
        while len(self._peers) < self.wait_for_connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"


class SMTPServer:
    """``received`` in arrival order; ``stop()`` / ``start()`` take it down and up again on the
    same port (a refused connection in between, as a mail server that is down)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self.controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self) -> dict[str, object]:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_TIMEOUT": 5,
        }

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp_server(settings):
    server = SMTPServer()
    server.start()
    for name, value in server.settings().items():
        setattr(settings, name, value)
    yield server
    server.stop()


def worker_command(*args: str, smtp: SMTPServer, **popen) -> subprocess.Popen:
    """``manage.py deliver_outbox`` in a subprocess, on this run's test databases."""
    names = {alias: connections[alias].settings_dict["NAME"] for alias in connections}
    env = {
        **os.environ,
        "HELPDESK_WORKER_DATABASE_NAMES": json.dumps(names),
        "DJANGO_SETTINGS_MODULE": "tests.mail.worker_settings",
        "EMAIL_URL": smtp.url,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "deliver_outbox", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
