"""The terminal channel: an interactive chat, and the line-per-message JSON contract
that testers and support tools script against.

Replies take the same path as on every other channel: queued in the outbox with the
turn, then sent (here: rendered to the terminal) by the dispatcher.

JSON contract (``netanswer-bot chat --json``): each stdin line is ``{"text": ...}``
or ``{"choice": DATA}``; each is answered by one stdout line
``{"replies": [{"text", "choices": [{"label", "data"}]}], "state", "sandbox": [...]}``;
a reply with a chart also has ``"image": {"path", "alt"}``: the PNG, written in the
images folder (0700) only its user can read (0600), and what it shows in words.
"""

import asyncio
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from adapters.channels.channel import (
    Capabilities,
    Channel,
    Conversations,
    Inbound,
    Kind,
    Outcome,
    Outgoing,
)
from flows.messages import alt, label, render
from flows.replies import Reply
from storage import sandbox
from storage.database import Database
from storage.vault import Vault

CHANNEL = "console"
_LINE_ERROR = "each line must be a JSON object with a string 'text' or 'choice'"
_ROUTE = {"terminal": True}
_LEAVING = {
    "ja": "（終了は Ctrl-D または Ctrl-C。会話は保存され、同じ --user で続きから再開できます）",
    "en": "(Leave with Ctrl-D or Ctrl-C. The conversation is kept; the same --user resumes it.)",
}
_PICTURE = {"ja": "画像", "en": "Picture"}
_FOLDER_MODE = 0o700


class Console(Channel):
    name = CHANNEL
    capabilities = Capabilities(images=True)

    def __init__(
        self,
        conversations: Conversations,
        database: Database,
        vault: Vault,
        *,
        user_id: str,
        lang: str | None,
        images: Path,
    ) -> None:
        super().__init__(conversations)
        self._database = database
        self._vault = vault
        self._images = images
        self._user_id = user_id
        self._lang = lang
        self._seen = 0
        self._shown: list[dict[str, Any]] = []

    def routes(self) -> list[Any]:
        return []

    async def send(self, batch: Sequence[Outgoing]) -> None:
        for outgoing in batch:
            reply, lang = outgoing.reply, outgoing.lang
            shown = _rendered(reply, lang, pictured=reply.image is not None)
            if reply.image is not None:
                picture = await self.conversations.picture(reply.image, lang)
                path = self._save(f"chart-{outgoing.id}.png", picture)
                shown["image"] = {"path": str(path), "alt": alt(reply, lang)}
            self._shown.append(shown)

    def _save(self, name: str, content: bytes) -> Path:
        """Write a picture only this user may read: a private temporary file (0600)
        renamed into place, so no other mode is ever seen, even on a rewrite."""
        self._images.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self._images, suffix=".png")
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        path = (self._images / name).resolve()
        os.replace(temporary, path)
        return path

    async def run_json(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._seen = await self._last_sandbox_id()
        for line in stdin:
            if not line.strip():
                continue
            fields = _parse_line(line)
            if fields is None:
                answer: dict[str, Any] = {"error": _LINE_ERROR}
            else:
                answer, _ = await self._exchange(self._inbound(**fields))
            stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
            stdout.flush()

    def run_interactive(self, runner: asyncio.Runner) -> None:
        """Read lines outside the event loop, so Ctrl-C and Ctrl-D at the prompt simply
        leave; each line is handled on ``runner``'s loop."""
        self._seen = runner.run(self._last_sandbox_id())
        print(_LEAVING.get(self._lang or "", _LEAVING["ja"]))
        offered = self._show(runner.run(self._exchange(self._inbound(kind=Kind.OPENED))), [])
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
            offered = self._show(runner.run(self._exchange(inbound)), offered)

    def _inbound(self, **fields: Any) -> Inbound:
        return Inbound(CHANNEL, self._user_id, uuid.uuid4().hex, lang=self._lang, **fields)

    async def _exchange(self, inbound: Inbound) -> tuple[dict[str, Any], bool]:
        """One event through the application and its replies back through delivery;
        also whether they end with a new question."""
        outcome = await self.conversations.handle(inbound, route=_ROUTE)
        if outcome.failed:  # rolled back, nothing queued: show the apology directly
            self._shown.extend(_rendered(reply, outcome.lang) for reply in outcome.replies)
        else:
            await self.conversations.deliver(CHANNEL, self._user_id)
        replies, self._shown = self._shown, []
        answer = {
            "replies": replies,
            "state": outcome.state,
            "sandbox": await self._delivered(outcome),
        }
        return answer, outcome.asked

    async def _delivered(self, outcome: Outcome) -> list[dict[str, str]]:
        async with self._database.transaction() as session:
            messages = await sandbox.read(
                session, self._vault, after_id=self._seen, conversation_id=outcome.conversation_id
            )
        if messages:
            self._seen = messages[-1].id
        return [{"kind": m.kind, "to": m.to, "text": m.text} for m in messages]

    async def _last_sandbox_id(self) -> int:
        async with self._database.transaction() as session:
            return await sandbox.last_id(session)

    def _show(self, exchanged: tuple[dict[str, Any], bool], offered: list[str]) -> list[str]:
        """Print the answer; returns the buttons the member may now press by number,
        which stay those on screen until a new question replaces them."""
        answer, asked = exchanged
        numbered = self._print(answer, _PICTURE.get(self._lang or "", _PICTURE["ja"]))
        return numbered if asked else offered

    @staticmethod
    def _print(answer: dict[str, Any], picture: str) -> list[str]:
        offered: list[str] = []
        for reply in answer["replies"]:
            print(reply["text"])
            if "image" in reply:
                print(f"  ({picture}: {reply['image']['path']})")
            for choice in reply["choices"]:
                offered.append(choice["data"])
                print(f"  [{len(offered)}] {choice['label']}")
        for message in answer["sandbox"]:
            icon = "SMS" if message["kind"] == "sms" else "MAIL"
            print(f"  ({icon} to {message['to']}) {message['text']}")
        return offered


def _rendered(reply: Reply, lang: str, *, pictured: bool = False) -> dict[str, Any]:
    return {
        "text": render(reply, lang, pictured=pictured),
        "choices": [
            {"label": label(choice, lang), "data": choice.data} for choice in reply.choices
        ],
    }


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
