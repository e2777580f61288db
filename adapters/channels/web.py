"""The web chat: a page at ``/`` where a browser talks to the bot over a WebSocket,
beside a "phone" that shows the sandbox SMS and mail sent for this chat.

A browser session is one chat user: a random id in a signed cookie (itsdangerous,
with a key derived from the vault's index key for this purpose alone; HttpOnly,
SameSite=Strict, Secure over https). Everything else goes the way of every channel:
each message the page sends carries an id the browser made (a resend after a
reconnect is applied once), the application runs the flow and queues the replies in
the outbox, and :meth:`Web.send` pushes them to the chat's open sockets. With none
open, the send fails and the reply stays queued until the page connects again.

A page's socket is held by one worker process; a reply may be queued or retried by
another (a turn that ended after the page moved, the retry loop of a worker that holds
no socket of the chat). So each worker looks every :data:`WATCH_EVERY` seconds for
queued replies of the chats whose pages it holds and sends them at once (one query for
all of them), whatever retry they were waiting for.

The page shows the conversation again after a reload from the transcript, which holds
no secret as typed. Its template, script and stylesheet live beside this module in
``templates/`` and ``static/``: the page is this channel's own, nothing else serves it.

Wire format (JSON text frames). From the page: ``{"type": "open" | "text" |
"choice", "id": "<8-64 of A-Z a-z 0-9 _ ->", "text": ..., "data": ...}``; from the
server: ``history`` (first, on every connection), ``reply`` (see :func:`rendered`),
``phone`` (sandbox messages), and ``ack`` (the last frame of each event: it is applied;
``secret``: what the member sent must not stay on screen) or ``error``.

Settings: on whenever the sandbox is (every environment but ``NETANSWER_ENV=production``),
or with ``WEB_CHAT=1``; ``WEB_CHAT=0`` turns it off.
"""

import asyncio
import base64
import json
import logging
import re
import secrets
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from adapters.channels.channel import (
    ENTRY_CHOICE,
    Capabilities,
    Channel,
    Conversations,
    History,
    Inbound,
    Kind,
    Outgoing,
    SendFailed,
)
from flows.messages import CATALOG, DEFAULT_LANG, LANGUAGES, alt, label, render, text
from flows.replies import Choice, Reply
from storage.models import Direction
from storage.sandbox import Delivered

CHANNEL = "web"
PAGE = "/"
SOCKET = "/chat/socket"
STATIC = "/static/web"
COOKIE = "netanswer_chat"
SESSION_AGE = timedelta(days=30)
_SESSION_SECONDS = int(SESSION_AGE.total_seconds())
WATCH_EVERY = 0.5  # seconds between looks for replies other workers queued
#: Closing code for a socket without a valid session: the page reloads to get one.
NO_SESSION = 4401
_SALT = "web-chat-session"
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_FRAME_LIMIT = 64 * 1024  # characters of one frame from the page; a message is far less
_ROUTE = {"socket": True}
_HERE = Path(__file__).parent
_SECRET_SHOWN = "••••••"  # noqa: S105 (dots in place of a secret)
#: Kinds of secret the text box hides while they are typed (the card number and the
#: passcode stay visible, so a typo can be seen; neither is shown again afterwards).
_HIDDEN_TYPING = ("password", "pin", "code")
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; object-src 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
#: The page's own words; the conversation's are in the message catalog.
_PAGE_TEXT = {
    "ja": {
        "title": "Netアンサー登録チャット",
        "chat": "チャット",
        "phone": "電話（サンドボックスのSMSとメール）",
        "phone_empty": "ボットが送ったSMSやメールがここに届きます。",
        "message": "メッセージ",
        "send": "送信",
        "other_lang": "English",
        "offline": "接続が切れました。再接続しています…",
        "sms": "SMS",
        "mail": "メール",
    },
    "en": {
        "title": "Net Answer enrollment chat",
        "chat": "Chat",
        "phone": "Phone (sandbox SMS and mail)",
        "phone_empty": "SMS and mail the bot sends appear here.",
        "message": "Message",
        "send": "Send",
        "other_lang": "日本語",
        "offline": "Connection lost. Reconnecting…",
        "sms": "SMS",
        "mail": "Mail",
    },
}

logger = logging.getLogger(__name__)
_templates = Jinja2Templates(directory=_HERE / "templates")


def enabled(env: Mapping[str, str]) -> bool:
    """Whether the web chat is on: ``WEB_CHAT`` if set, else whenever the sandbox is."""
    value = (env.get("WEB_CHAT") or "").lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value:
        raise ValueError("WEB_CHAT must be 1 (on) or 0 (off)")
    return (env.get("NETANSWER_ENV") or "").lower() != "production"


class Web(Channel):
    name = CHANNEL
    # The page drops what the member typed at a secret step as soon as it is read.
    capabilities = Capabilities(deletes_messages=True, images=True)

    def __init__(self, conversations: Conversations, *, phone: bool) -> None:
        super().__init__(conversations)
        self._sessions = URLSafeTimedSerializer(conversations.secret(_SALT), salt=_SALT)
        self._phone = phone
        self._sockets: dict[str, set[WebSocket]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def configured(cls, env: Mapping[str, str], conversations: Conversations) -> Self | None:
        if not enabled(env):
            return None
        sandbox = (env.get("NETANSWER_ENV") or "").lower() != "production"
        return cls(conversations, phone=sandbox)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PAGE, self._page, methods=["GET"]),
            WebSocketRoute(SOCKET, self._socket),
            Mount(STATIC, app=StaticFiles(directory=_HERE / "static"), name="web-static"),
        ]

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [self._watch]

    async def _watch(self) -> None:
        """Send the replies queued for the chats whose pages this worker holds."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                for user in await self.conversations.waiting(CHANNEL, list(self._sockets)):
                    async with self._turns(user):
                        await self.conversations.resume(CHANNEL, user)
            except Exception as error:  # the database away: the next look tries again
                logger.warning(
                    "web chat: looking for queued replies failed: %s", type(error).__name__
                )

    def _turns(self, user: str) -> asyncio.Lock:
        """The chat's lock: its pages' events and the look for its queued replies."""
        return self._locks.setdefault(user, asyncio.Lock())

    async def send(self, batch: Sequence[Outgoing]) -> None:
        """Push the replies to every page of the chat that is open; none open fails,
        and the outbox keeps them for the next connection."""
        frames = [await self._frame(outgoing) for outgoing in batch]
        sockets = self._sockets.get(batch[0].user_id, set())
        delivered = False
        for socket in list(sockets):
            try:
                for frame in frames:
                    await socket.send_json(frame)
            except Exception as error:  # closed under us: that page gets it on reconnect
                logger.info("web socket gone while sending: %s", type(error).__name__)
                sockets.discard(socket)
            else:
                delivered = True
        if not delivered:
            raise SendFailed("no page open")

    async def _frame(self, outgoing: Outgoing) -> dict[str, Any]:
        """The reply as the page shows it; a chart is drawn now and sent inside the
        frame (a data: address), so no other request can fetch it."""
        reply, lang = outgoing.reply, outgoing.lang
        frame = rendered(reply, lang)
        if reply.image is not None:
            picture = await self.conversations.picture(reply.image, lang)
            frame["text"] = render(reply, lang, pictured=True)
            frame["image"] = {
                "src": "data:image/png;base64," + base64.b64encode(picture).decode(),
                "alt": alt(reply, lang),
            }
        return frame

    # The secure-entry page opens in place: this browser's session proves the user.

    def entry_link(self, path: str) -> str:
        return path

    async def entry_user(self, request: Request, proof: str) -> str | None:
        session = self._read(request.cookies.get(COOKIE))
        return session["user"] if session else None

    def route_to(self, user_id: str) -> Mapping[str, Any]:
        return _ROUTE

    # The page

    async def _page(self, request: Request) -> Response:
        session = self._read(request.cookies.get(COOKIE))
        user = session["user"] if session else _new_user()
        lang = _page_lang(request, session)
        context = {
            "lang": lang,
            "other_lang": "en" if lang == "ja" else "ja",
            "t": _PAGE_TEXT[lang],
            "socket": SOCKET,
            "static": STATIC,
            "phone": self._phone,
        }
        response = _templates.TemplateResponse(request, "chat.html", context, headers=_HEADERS)
        if session != {"user": user, "lang": lang}:
            response.set_cookie(
                COOKIE,
                self._sessions.dumps({"user": user, "lang": lang}),
                max_age=_SESSION_SECONDS,
                path="/",
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
        return response

    def _read(self, cookie: str | None) -> dict[str, str] | None:
        """The session a cookie signed by this server holds; None for no cookie, a
        tampered or expired one, or one of another shape."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=_SESSION_SECONDS)
        except BadSignature:  # SignatureExpired is one
            return None
        if not (
            isinstance(data, dict)
            and isinstance(data.get("user"), str)
            and data.get("lang") in LANGUAGES
        ):
            return None
        return {"user": data["user"], "lang": data["lang"]}

    # The socket

    async def _socket(self, websocket: WebSocket) -> None:
        session = self._read(websocket.cookies.get(COOKIE))
        if not _same_origin(websocket):  # another site's page must not drive a member's chat
            await websocket.close(code=1008)
            return
        if session is None:
            await websocket.close(code=NO_SESSION)
            return
        await websocket.accept()
        user, lang = session["user"], session["lang"]
        history = await self.conversations.history(CHANNEL, user)
        await websocket.send_json({"type": "history", "entries": shown(history)})
        seen = await self._phone_start(websocket, history)
        self._sockets.setdefault(user, set()).add(websocket)
        try:
            await self.conversations.resume(CHANNEL, user)
            if history.conversation_id is not None:
                seen = await self._push_phone(websocket, history.conversation_id, seen)
            while True:
                frame = await _text_frame(websocket)
                inbound, event = (None, None) if frame is None else _inbound(frame, user, lang)
                if inbound is None:
                    await websocket.send_json({"type": "error", "id": event})
                    continue
                # One at a time with the look for queued replies, so the ack comes after
                # every reply of its event, never before one the look is still sending.
                async with self._turns(user):
                    outcome = await self.conversations.handle(inbound, route=_ROUTE)
                    if outcome.failed:  # rolled back, nothing queued: the apology goes directly
                        for reply in outcome.replies:
                            await websocket.send_json(rendered(reply, outcome.lang))
                    elif not outcome.duplicate:
                        await self.conversations.deliver(CHANNEL, user)
                    if outcome.conversation_id:
                        seen = await self._push_phone(websocket, outcome.conversation_id, seen)
                    # Last: everything the event brought is on the page by now.
                    await websocket.send_json(
                        {"type": "ack", "id": event, "secret": outcome.secret_input}
                    )
        except (WebSocketDisconnect, WebSocketDisconnected):  # gone, maybe found by a push
            pass
        except Exception as error:  # the database away: the page reconnects and resends
            logger.warning("web chat turn failed: %s", type(error).__name__)
            await websocket.close(code=1011)
        finally:
            sockets = self._sockets.get(user, set())
            sockets.discard(websocket)
            if not sockets:
                self._sockets.pop(user, None)
                self._locks.pop(user, None)

    async def _phone_start(self, websocket: WebSocket, history: History) -> int:
        """Where the phone pane goes on from: what the page saw before a reconnect
        (``?after=``), else only what arrives from now on (a reload shows no old
        passcode)."""
        after = websocket.query_params.get("after", "")
        if after.isdigit() and len(after) < 19:
            return int(after)
        if not self._phone or history.conversation_id is None:
            return 0
        old = await self.conversations.sandbox_messages(history.conversation_id, 0)
        return old[-1].id if old else 0

    async def _push_phone(self, websocket: WebSocket, conversation_id: int, seen: int) -> int:
        if not self._phone:
            return seen
        messages = await self.conversations.sandbox_messages(conversation_id, seen)
        if messages:
            await websocket.send_json(
                {"type": "phone", "messages": [_phone_message(m) for m in messages]}
            )
            seen = messages[-1].id
        return seen


def rendered(reply: Reply, lang: str) -> dict[str, Any]:
    """A reply as the page shows it: a bubble, its buttons (with their stable data),
    whether it is about card data, and how the text box takes the answer."""
    return {
        "type": "reply",
        "text": render(reply, lang),
        "choices": [_choice(choice, lang) for choice in reply.choices],
        "sensitive": reply.sensitive,
        "secret": reply.secret is not None,
        "hidden": reply.secret in _HIDDEN_TYPING,
    }


def _choice(choice: Choice, lang: str) -> dict[str, str]:
    """A button; the secure-entry page's carries its address (it opens in place)."""
    shown = {"label": label(choice, lang), "data": choice.data}
    if choice.data == ENTRY_CHOICE and choice.url:
        shown["url"] = choice.url
    return shown


def shown(history: History) -> list[dict[str, str]]:
    """The conversation as the page shows it after a reload, from the redacted
    transcript: the bot's replies (but those still queued, which arrive on their own)
    and what the member sent, a secret as dots."""
    lang = history.lang or DEFAULT_LANG
    entries = list(history.entries)
    if history.queued:
        outgoing = [i for i, entry in enumerate(entries) if entry.direction == Direction.OUT]
        for index in reversed(outgoing[-history.queued :]):
            del entries[index]
    lines = []
    for entry in entries:
        member = entry.direction == Direction.IN
        said = _said(entry.body, lang) if member else _reply(entry.body, lang)
        if said is not None:
            lines.append({"from": "member" if member else "bot", "text": said})
    return lines


def _reply(body: Mapping[str, Any], lang: str) -> str | None:
    try:
        return render(Reply(body["key"], body.get("params", {})), lang)
    except (KeyError, TypeError, ValueError):  # a key a later release dropped
        return None


def _said(body: Mapping[str, Any], lang: str) -> str | None:
    if "choice" in body:
        key = "choice." + str(body["choice"]).replace(":", ".")
        return text(key, lang) if key in CATALOG[lang] else str(body["choice"])
    if "command" in body:
        return f"/{body['command']}"
    if "text" in body:
        typed = str(body["text"])
        return _SECRET_SHOWN if typed.startswith("⟨") and typed.endswith("⟩") else typed
    return None  # opened, throttled, unreadable: nothing the member wrote


async def _text_frame(websocket: WebSocket) -> str | None:
    """The next frame's text; None for a binary frame, which the page never sends
    (Starlette's ``receive_text`` fails on one, and the socket would be lost)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    frame = message.get("text")
    return frame if isinstance(frame, str) else None


def _inbound(frame: str, user: str, lang: str) -> tuple[Inbound | None, str | None]:
    """The event a frame carries, or None (and the id, if any) for one that is not
    ``{"type", "id", ...}`` as the page sends it."""
    if len(frame) > _FRAME_LIMIT:
        return None, None
    try:
        data = json.loads(frame)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    event = data.get("id")
    if not (isinstance(event, str) and _EVENT_ID.fullmatch(event)):
        return None, None
    # The id is the browser's: scoped to the chat, so no page can spend another's.
    common: dict[str, Any] = {"channel": CHANNEL, "user_id": user, "event_id": f"{user}:{event}"}
    kind, text_ = data.get("type"), data.get("text")
    if kind == "open":
        return Inbound(**common, lang=lang, kind=Kind.OPENED), event
    if kind == "text" and isinstance(text_, str):
        return Inbound(**common, lang=lang, text=text_), event
    if kind == "choice" and isinstance(data.get("data"), str):
        return Inbound(**common, lang=lang, choice=data["data"]), event
    return None, event


def _phone_message(message: Delivered) -> dict[str, Any]:
    return {
        "id": message.id,
        "at": message.at.isoformat(),
        "kind": message.kind,
        "to": message.to,
        "text": message.text,
    }


def _new_user() -> str:
    return secrets.token_urlsafe(16)


def _page_lang(request: Request, session: Mapping[str, str] | None) -> str:
    """``?lang=`` (the page's toggle), else the session's, else the browser's first
    preference among the catalog's languages, else Japanese."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    if session is not None:
        return session["lang"]
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        for lang in LANGUAGES:
            if tag == lang or tag.startswith(f"{lang}-"):
                return lang
    return DEFAULT_LANG


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    return bool(origin and host) and urlsplit(origin).netloc == host
