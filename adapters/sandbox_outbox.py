"""Sandbox SMS and mail gateways: nothing leaves the machine; each message is kept
in the sandbox outbox, where the terminal chat and `netanswer-bot sandbox outbox`
show it, so a tester on any channel can read a passcode."""

from collections.abc import Callable
from datetime import datetime

from flows.letters import Letter
from storage import sandbox
from storage.database import Database
from storage.vault import Vault


class SandboxOutbox:
    instant = True  # a row in the bot's own database

    def __init__(self, database: Database, vault: Vault, clock: Callable[[], datetime]) -> None:
        self._database = database
        self._vault = vault
        self._clock = clock

    async def send_sms(self, phone: str, text: str, conversation_id: int | None) -> None:
        await self._record("sms", phone, text, conversation_id)

    async def send_mail(self, address: str, letter: Letter, conversation_id: int | None) -> None:
        await self._record("mail", address, letter.text, conversation_id)

    async def _record(self, kind: str, to: str, text: str, conversation_id: int | None) -> None:
        async with self._database.transaction() as session:
            await sandbox.record(
                session,
                self._vault,
                kind=kind,
                to=to,
                text=text,
                conversation_id=conversation_id,
                at=self._clock(),
            )
