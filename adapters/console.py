"""The terminal channel: an interactive chat, and the line-per-message JSON contract
that testers and support tools script against.

JSON contract (``netanswer-bot chat --json``): each stdin line is ``{"text": ...}``
or ``{"choice": DATA}``; each is answered by one stdout line
``{"replies": [{"text", "choices": [{"label", "data"}]}], "state", "sandbox": [...]}``.
"""

import json
import sys
import uuid
from typing import Any, TextIO

from bot.engine import Engine, Inbound, Outcome
from flows.messages import label, render
from storage import sandbox
from storage.database import Database
from storage.vault import Vault

CHANNEL = "console"
_LINE_ERROR = "each line must be a JSON object with a string 'text' or 'choice'"


class Console:
    def __init__(
        self, engine: Engine, database: Database, vault: Vault, *, user_id: str, lang: str | None
    ) -> None:
        self._engine = engine
        self._database = database
        self._vault = vault
        self._user_id = user_id
        self._lang = lang
        self._seen = 0

    async def run_json(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._seen = await self._last_sandbox_id()
        for line in stdin:
            if not line.strip():
                continue
            fields = _parse_line(line)
            if fields is None:
                answer: dict[str, Any] = {"error": _LINE_ERROR}
            else:
                answer = await self._answer(await self._engine.handle(self._inbound(**fields)))
            stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
            stdout.flush()

    async def run_interactive(self) -> None:
        self._seen = await self._last_sandbox_id()
        outcome = await self._engine.handle(self._inbound(opened=True))
        offered = self._print(await self._answer(outcome))
        while True:
            try:
                typed = input("> ")
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if not typed.strip():
                continue
            if typed.strip().isdigit() and 0 < int(typed) <= len(offered):
                inbound = self._inbound(choice=offered[int(typed) - 1])
            else:
                inbound = self._inbound(text=typed)
            offered = self._print(await self._answer(await self._engine.handle(inbound)))

    def _inbound(self, **fields: Any) -> Inbound:
        return Inbound(CHANNEL, self._user_id, uuid.uuid4().hex, lang=self._lang, **fields)

    async def _answer(self, outcome: Outcome) -> dict[str, Any]:
        replies = [
            {
                "text": render(reply, outcome.lang),
                "choices": [
                    {"label": label(choice, outcome.lang), "data": choice.data}
                    for choice in reply.choices
                ],
            }
            for reply in outcome.replies
        ]
        delivered = await self._delivered(outcome.conversation_id)
        return {"replies": replies, "state": outcome.state, "sandbox": delivered}

    async def _delivered(self, conversation_id: int) -> list[dict[str, str]]:
        async with self._database.transaction() as session:
            messages = await sandbox.read(
                session, self._vault, after_id=self._seen, conversation_id=conversation_id
            )
        if messages:
            self._seen = messages[-1].id
        return [{"kind": m.kind, "to": m.to, "text": m.text} for m in messages]

    async def _last_sandbox_id(self) -> int:
        async with self._database.transaction() as session:
            return await sandbox.last_id(session)

    @staticmethod
    def _print(answer: dict[str, Any]) -> list[str]:
        offered: list[str] = []
        for reply in answer["replies"]:
            print(reply["text"])
            for choice in reply["choices"]:
                offered.append(choice["data"])
                print(f"  [{len(offered)}] {choice['label']}")
        for message in answer["sandbox"]:
            icon = "SMS" if message["kind"] == "sms" else "MAIL"
            print(f"  ({icon} to {message['to']}) {message['text']}")
        return offered


def _parse_line(line: str) -> dict[str, str] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for kind in ("choice", "text"):
        if isinstance(data.get(kind), str):
            return {kind: data[kind]}
    return None
