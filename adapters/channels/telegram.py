"""The Telegram channel: python-telegram-bot parses updates and sends messages; no
``Application`` and no ``ConversationHandler``, because every worker is stateless and
the database orders each chat.

An update becomes an :class:`~adapters.channels.channel.Inbound` (event id =
``update_id``, so a redelivered update is processed once); the application queues the
replies in the outbox and this adapter renders and sends them when the dispatcher calls
:meth:`Telegram.send`. Only private chats are served: card data has no place in a group.

Settings: ``TELEGRAM_BOT_TOKEN`` (``<digits>:<letters, digits, _ ->``; without it
Telegram is off), ``TELEGRAM_WEBHOOK_SECRET``
(1-256 of ``A-Za-z0-9_-``, required for the webhook), ``TELEGRAM_API_BASE_URL`` (a
self-hosted Bot API server or a local stand-in), ``TELEGRAM_POLLING=1`` (long polling
instead of the webhook), ``TELEGRAM_MESSAGES_PER_SECOND`` (the overall pace, 30 unless
Telegram granted more: paid broadcasts go up to 1,000), ``PUBLIC_URL`` (an https://
address: the secure-entry page opens from there as a Mini App; without it the page is
not offered on Telegram).

The secure-entry page is a Mini App (a ``web_app`` button): Telegram hands the page
``initData`` signed with a key derived from the bot's token, which the page posts back
with the form; :meth:`Telegram.entry_user` checks the signature, that it is fresh, and
whose it is.

Pacing is python-telegram-bot's own :class:`~telegram.ext.AIORateLimiter`: thirty
messages a second in all (Telegram's published overall limit) and its per-minute limit
for groups, which this bot never writes to. It has no per-chat limit for private chats
(Telegram's "about one a second, short bursts tolerated"); instead a turn's plain lines
go out joined as one message, so a turn is one or two messages, within the burst. If
Telegram still answers 429, the limiter does not sleep inside the send
(``max_retries=0``): the reply fails with Telegram's ``retry_after`` and the outbox
sends it again after that time, with the chat's later replies waiting behind it.

Replies go over aiohttp (:class:`_Requests`, python-telegram-bot's own extension point
for an HTTP library; aiohttp is here already for LINE's SDK): its default, httpx, spent
about 4 ms of CPU on each sendMessage in a worker on loopback, a quarter of the whole
message, aiohttp under 1 ms (README, "The webhook path"). Long polling keeps httpx.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from starlette.requests import Request
from starlette.routing import BaseRoute
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
    User,
    WebAppInfo,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from adapters.channels.channel import (
    ENTRY_CHOICE,
    Capabilities,
    Channel,
    Conversations,
    EntrySdk,
    Inbound,
    Outgoing,
    Rejected,
    SendFailed,
    read_json,
)
from flows.messages import DEFAULT_LANG, label, render
from flows.replies import Choice, Reply

CHANNEL = "telegram"
#: Telegram's script for Mini Apps, which hands the page its signed ``initData``.
MINI_APP_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
#: How old a Mini App's ``initData`` may be: as long as the page it opened may be used.
MINI_APP_FRESHNESS = timedelta(minutes=10)
_CLOCK_SKEW = timedelta(minutes=1)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
_SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")
# BotFather's tokens look like 110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw: the bot's
# numeric id, a colon, then (today) 35 characters of A-Z a-z 0-9 _ -. The form is
# checked strictly, the length leniently.
_TOKEN_FORMAT = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}")
_UPDATES = ["message", "callback_query"]
_POLL_SECONDS = 30
_POLL_PAUSE = 5.0  # after a failed getUpdates
_ID_RANGE = range(-(2**63), 2**63)  # Telegram's ids are 64-bit integers (52 bits in use)
_OVERALL_PER_SECOND = 30
_MOST_PER_SECOND = 1000  # Telegram's paid broadcasts
_TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted in UTF-16 code units
_JOINER = "\n\n"

# The command menu, per language; the default (no language_code) is Japanese.
_COMMANDS: dict[str, list[tuple[str, str]]] = {
    "ja": [
        ("home", "次回のお支払いとポイント"),
        ("statement", "ご利用明細（例：/statement 2026-10）"),
        ("points", "永久不滅ポイント"),
        ("payment", "お支払い日と金額"),
        ("limit", "ご利用可能額"),
        ("graph", "直近6か月のご利用グラフ"),
        ("apply", "ポイントを請求額に充当"),
        ("language", "Language / 言語"),
        ("unlink", "このチャットの連携を解除"),
        ("menu", "できることの一覧"),
        ("start", "登録をはじめる／最初からやり直す"),
        ("cancel", "登録を中止して入力内容を消去する"),
        ("help", "いまの手順の説明を見る"),
    ],
    "en": [
        ("home", "Next payment and points"),
        ("statement", "Statement (e.g. /statement 2026-10)"),
        ("points", "Points"),
        ("payment", "Payment date and amount"),
        ("limit", "Credit left"),
        ("graph", "Usage graph of the last 6 months"),
        ("apply", "Put points towards your bill"),
        ("language", "Language / 言語"),
        ("unlink", "Unlink this chat"),
        ("menu", "What I can do"),
        ("start", "Start registering, or start over"),
        ("cancel", "Cancel and erase what you entered"),
        ("help", "Explain the current step"),
    ],
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_base_url: str | None = None
    polling: bool = False
    per_second: int = _OVERALL_PER_SECOND
    public_url: str | None = None  # https only: where Mini Apps open

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "TelegramSettings | None":
        """None when no bot token is set (Telegram off)."""
        token = env.get("TELEGRAM_BOT_TOKEN")
        if not token:
            return None
        if not _TOKEN_FORMAT.fullmatch(token):
            raise ValueError(
                "TELEGRAM_BOT_TOKEN must be the token BotFather gave: the bot's number, "
                "':', then letters, digits, _ and - (e.g. 123456789:AAH...)"
            )
        secret = env.get("TELEGRAM_WEBHOOK_SECRET") or None
        polling = env.get("TELEGRAM_POLLING", "").lower() in ("1", "true", "yes")
        if secret and not _SECRET_FORMAT.fullmatch(secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        if not polling and not secret:
            raise ValueError(
                "the Telegram webhook needs TELEGRAM_WEBHOOK_SECRET: 1-256 characters of "
                "A-Z a-z 0-9 _ - (or serve with --telegram-polling)"
            )
        pace = env.get("TELEGRAM_MESSAGES_PER_SECOND") or str(_OVERALL_PER_SECOND)
        if not pace.isdigit() or not 1 <= int(pace) <= _MOST_PER_SECOND:
            raise ValueError(f"TELEGRAM_MESSAGES_PER_SECOND must be 1 to {_MOST_PER_SECOND}")
        base_url = env.get("TELEGRAM_API_BASE_URL") or None
        public_url = (env.get("PUBLIC_URL") or "").rstrip("/")
        pages = public_url if urlsplit(public_url).scheme == "https" else None
        return cls(token, secret, base_url, polling, int(pace), pages)


class _Requests(BaseRequest):
    """The Bot API's requests (all but long polling's) over one aiohttp session."""

    _CONNECT, _READ, _MEDIA = 5.0, 5.0, 20.0  # seconds, as python-telegram-bot's defaults

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._READ

    async def initialize(self) -> None:
        self._client()

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        files = request_data is not None and request_data.contains_files
        connect = _given(connect_timeout, self._CONNECT) + _given(pool_timeout, 1.0)
        read = _given(read_timeout, self._READ)
        write = _given(write_timeout, self._MEDIA if files else self._READ)
        timeout = aiohttp.ClientTimeout(
            total=connect + write + read, connect=connect, sock_read=read
        )
        try:
            async with self._client().request(
                method,
                url,
                data=_body(request_data),
                headers={"User-Agent": self.USER_AGENT},
                timeout=timeout,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:  # its text may carry the URL, so the token
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # opened in the running event loop, as aiohttp needs
            # HTTP(S)_PROXY and NO_PROXY apply, as they do to httpx and to LINE's SDK.
            self._session = aiohttp.ClientSession(trust_env=True)
        return self._session


def _given(value: Any, default: float) -> float:
    """A timeout python-telegram-bot passed, or the default where it passed none (a
    send is never left without one)."""
    return default if value is BaseRequest.DEFAULT_NONE or value is None else float(value)


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields (structured ones as JSON, as python-telegram-bot encodes them), and
    a file (a chart) as a multipart part."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


@dataclass(frozen=True)
class _Message:
    """One Telegram message made of one or more replies: a text, or a photo with it as
    the caption."""

    text: str
    protect: bool
    keyboard: InlineKeyboardMarkup | None = None
    photo: bytes | None = None


class Telegram(Channel):
    name = CHANNEL
    capabilities = Capabilities(deletes_messages=True, images=True, sequence_reach=100)
    batch_size = 10  # a turn's replies, so its plain lines can be joined

    def __init__(
        self,
        conversations: Conversations,
        bot: Bot,
        *,
        secret: str | None,
        polling: bool = False,
        public_url: str | None = None,
    ) -> None:
        super().__init__(conversations)
        self._bot = bot
        self._secret = secret
        self._polling = polling
        self._public_url = public_url

    @classmethod
    def configured(cls, env: Mapping[str, str], conversations: Conversations) -> Self | None:
        settings = TelegramSettings.from_env(env)
        if settings is None:
            return None
        options: dict[str, Any] = {}
        if settings.api_base_url:
            options["base_url"] = settings.api_base_url
        limiter = AIORateLimiter(overall_max_rate=settings.per_second, max_retries=0)
        bot = ExtBot(settings.token, request=_Requests(), rate_limiter=limiter, **options)
        return cls(
            conversations,
            bot,
            secret=settings.webhook_secret,
            polling=settings.polling,
            public_url=settings.public_url,
        )

    def routes(self) -> list[BaseRoute]:
        return [] if self._polling else super().routes()

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [self._poll] if self._polling else []

    async def start(self) -> None:
        """Check the token (getMe) and register the command menu in each language."""
        await self._bot.initialize()
        for lang, commands in _COMMANDS.items():
            await self._quietly(
                self._bot.set_my_commands(
                    [BotCommand(name, description) for name, description in commands],
                    language_code=None if lang == DEFAULT_LANG else lang,
                ),
                "setMyCommands",
            )

    async def close(self) -> None:
        await self._bot.shutdown()

    def authentic(self, header: str | None) -> bool:
        """Whether a webhook request carries the secret given to setWebhook."""
        if not self._secret or header is None:
            return False
        return hmac.compare_digest(header.encode(), self._secret.encode())

    async def receive(self, request: Request) -> list[str]:
        # The secret is a header: a request without it is refused before its body is read.
        if not self.authentic(request.headers.get(SECRET_HEADER)):
            raise Rejected(403, "wrong secret")
        update = self.parse(await request.body())
        _inbound(update)  # its ids are checked before anything is answered
        user_id = await self.handle(update)
        return [] if user_id is None else [user_id]

    def parse(self, body: bytes) -> Update:
        """An update from a webhook body; :class:`Rejected` (400) for one nested too
        deep, without an integer ``update_id``, or not an update at all."""
        data = read_json(body)
        if not isinstance(data, dict) or not _is_id(data.get("update_id")):
            raise Rejected(400, "no update_id")
        try:
            update = Update.de_json(data, self._bot)
        # OverflowError and OSError: a date too far for datetime.fromtimestamp.
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError) as error:
            raise Rejected(400, type(error).__name__) from None
        if update is None:  # de_json makes an update of any dict
            raise Rejected(400, "empty update")
        return update

    async def handle(self, update: Update) -> str | None:
        """Run one update through the engine. Returns the chat user whose replies are
        queued, or None when the update is nothing the bot answers."""
        query = update.callback_query
        if query is not None:  # stop the button's spinner whatever happens next
            await self._quietly(self._bot.answer_callback_query(query.id), "answerCallbackQuery")
        read = _inbound(update)
        if read is None:
            return None
        inbound, chat_id, message_id = read
        outcome = await self.conversations.handle(inbound, route={"chat_id": chat_id})
        if outcome.failed:  # rolled back, so nothing was queued: apologise directly
            for reply in outcome.replies:
                text = render(reply, inbound.lang or DEFAULT_LANG)
                await self._quietly(self._bot.send_message(chat_id, text), "sendMessage")
        if outcome.secret_input and message_id is not None:
            await self._quietly(self._bot.delete_message(chat_id, message_id), "deleteMessage")
        return inbound.user_id

    async def send(self, batch: Sequence[Outgoing]) -> None:
        """Send a turn's replies as few messages as reads well: consecutive plain texts
        with the same protection joined (a blank line between them, split to fit
        Telegram's length limit); a question with buttons as its own message, since a
        keyboard belongs to one message; a chart as a photo with its text as caption.

        The messages go one after another; a failure fails the whole batch, so after a
        failure midway the batch is sent again from its first message (at least once,
        as every reply)."""
        chat_id = batch[0].route["chat_id"]
        try:
            for message in _messages([await self._rendered(outgoing) for outgoing in batch]):
                options: dict[str, Any] = {
                    "reply_markup": message.keyboard,
                    "protect_content": True if message.protect else None,
                }
                if message.photo is None:
                    await self._bot.send_message(chat_id, message.text, **options)
                else:
                    caption = message.text
                    await self._bot.send_photo(chat_id, message.photo, caption=caption, **options)
        except RetryAfter as error:
            raise SendFailed("RetryAfter", retry_after=_seconds(error)) from None
        except (BadRequest, Forbidden) as error:  # blocked by the member, or refused
            raise SendFailed(type(error).__name__, permanent=True) from None
        except TelegramError as error:
            raise SendFailed(type(error).__name__) from None

    async def _rendered(self, outgoing: Outgoing) -> _Message:
        reply, lang = outgoing.reply, outgoing.lang
        keyboard = self._keyboard(reply, lang)
        if reply.image is None:
            return _Message(render(reply, lang), reply.sensitive, keyboard)
        picture = await self.conversations.picture(reply.image, lang)
        caption = render(reply, lang, pictured=True)
        return _Message(caption, reply.sensitive, keyboard, picture)

    def _keyboard(self, reply: Reply, lang: str) -> InlineKeyboardMarkup | None:
        if not reply.choices:
            return None
        return InlineKeyboardMarkup([[self._button(choice, lang)] for choice in reply.choices])

    def _button(self, choice: Choice, lang: str) -> InlineKeyboardButton:
        """A button that sends its data back, or opens the secure-entry page as a Mini App."""
        entry = choice.data == ENTRY_CHOICE and choice.url is not None
        address = self.entry_link(choice.url) if entry and choice.url else None
        if address is not None:
            return InlineKeyboardButton(label(choice, lang), web_app=WebAppInfo(address))
        return InlineKeyboardButton(label(choice, lang), callback_data=choice.data)

    # The secure-entry page, as a Mini App

    def entry_link(self, path: str) -> str | None:
        return f"{self._public_url}{path}" if self._public_url else None

    def entry_sdk(self) -> EntrySdk:
        return EntrySdk(MINI_APP_SCRIPT, frame_ancestors=("https://web.telegram.org",))

    async def entry_user(self, request: Request, proof: str) -> str | None:
        return mini_app_user(proof, self._bot.token, self.conversations.now())

    def route_to(self, user_id: str) -> Mapping[str, Any]:
        return {"chat_id": int(user_id)}  # a private chat's id is its user's

    async def _poll(self) -> None:
        """Long polling for a developer without a public HTTPS URL: the same handling
        as the webhook, one update after another."""
        await self._bot.delete_webhook()
        offset: int | None = None
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=offset, timeout=_POLL_SECONDS, allowed_updates=_UPDATES
                )
                for update in updates:
                    try:
                        user_id = await self.handle(update)
                    except Rejected:  # ids no chat can have: skipped, never retried
                        user_id = None
                    offset = update.update_id + 1
                    if user_id is not None:
                        await self.conversations.deliver(CHANNEL, user_id)
            except Exception as error:  # Telegram or the database away: try again shortly
                logger.warning("telegram polling paused: %s", type(error).__name__)
                await asyncio.sleep(_POLL_PAUSE)

    @staticmethod
    async def _quietly(call: Awaitable[Any], what: str) -> None:
        """A courtesy call (delete, answer, menu): its failure must not stop the chat."""
        try:
            await call
        except TelegramError as error:
            logger.warning("telegram %s failed: %s", what, type(error).__name__)


def _inbound(update: Update) -> tuple[Inbound, int, int | None] | None:
    """The engine's view of an update, the chat to answer in, and the message id that
    may have to be deleted; None for anything but a member writing in a private chat.

    An id that is not a 64-bit integer is :class:`Rejected` (400): Telegram never sends
    one, and it must not reach the database. A text or button data that is not a string
    is read as no text at all (like a sticker: the member is asked again), so the
    update is answered 200 and Telegram does not redeliver it."""
    query, message = update.callback_query, update.message
    text = choice = None
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        user, choice, message_id = query.from_user, _string(query.data), None
    elif message is not None and message.from_user is not None:
        chat, user = message.chat, message.from_user
        text, message_id = _string(message.text), message.message_id
    else:
        return None
    if chat is None or chat.type != ChatType.PRIVATE:
        return None
    inbound = Inbound(
        CHANNEL,
        _user_id(user),
        str(update.update_id),
        text=text,
        choice=choice,
        lang=_lang(user),
        position=update.update_id,
    )
    return inbound, _chat_id(chat.id), message_id


def _is_id(value: object) -> bool:
    return type(value) is int and value in _ID_RANGE


def _user_id(user: User | None) -> str:
    # None: a button press without "from", which Telegram never sends.
    if user is None or not _is_id(user.id):  # so at most 20 characters, within the column
        raise Rejected(400, "user id")
    return str(user.id)


def _chat_id(value: int) -> int:
    if not _is_id(value):
        raise Rejected(400, "chat id")
    return value


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _lang(user: User) -> str:
    code = user.language_code if isinstance(user.language_code, str) else ""
    return "en" if code.lower().startswith("en") else DEFAULT_LANG


def mini_app_user(init_data: str, bot_token: str, now: datetime) -> str | None:
    """The user a Mini App's ``initData`` names, when it is signed for this bot (the
    HMAC-SHA256 of its sorted fields, keyed with HMAC-SHA256("WebAppData", token), as
    Telegram's Web Apps documentation gives it) and was made within
    :data:`MINI_APP_FRESHNESS` of ``now``; None otherwise."""
    try:
        fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        return None
    signature = fields.pop("hash", "")
    checked = "\n".join(f"{name}={value}" for name, value in sorted(fields.items()))
    key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, checked.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        made = datetime.fromtimestamp(int(fields["auth_date"]), tz=UTC)
        user = json.loads(fields["user"])["id"]
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        return None
    if not (now - MINI_APP_FRESHNESS <= made <= now + _CLOCK_SKEW) or not _is_id(user):
        return None
    return str(user)


def _messages(rendered: Sequence[_Message]) -> list[_Message]:
    """The replies as Telegram messages: each plain text joined to the plain text
    before it when both have the same protection and the two fit in one message; a
    text too long for one message split (its buttons on the last part)."""
    messages: list[_Message] = []
    for message in rendered:
        if message.photo is not None:
            messages.append(message)
            continue
        *parts, last = _split(message.text)
        pieces = [_Message(part, message.protect) for part in parts]
        pieces.append(_Message(last, message.protect, message.keyboard))
        for piece in pieces:
            before = messages[-1] if messages else None
            if (
                before is not None
                and before.photo is None
                and before.keyboard is None
                and piece.keyboard is None
                and before.protect == piece.protect
                and _length(before.text + _JOINER + piece.text) <= _TEXT_LIMIT
            ):
                messages[-1] = _Message(before.text + _JOINER + piece.text, piece.protect)
            else:
                messages.append(piece)
    return messages


def _split(text: str) -> list[str]:
    """``text`` in parts that each fit one message: cut after the last line break
    that fits, or at the limit within a line longer than a message."""
    parts: list[str] = []
    while _length(text) > _TEXT_LIMIT:
        head = _fitting(text)
        cut = head.rfind("\n")
        if cut > 0:
            parts.append(head[:cut])
            text = text[cut + 1 :]
        else:
            parts.append(head)
            text = text[len(head) :]
    parts.append(text)
    return parts


def _fitting(text: str) -> str:
    """The longest start of ``text`` within the limit, never halving a character."""
    size = 0
    for index, character in enumerate(text):
        size += _length(character)
        if size > _TEXT_LIMIT:
            return text[:index]
    return text


def _length(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _seconds(error: RetryAfter) -> float:
    """``retry_after`` turns from seconds into a timedelta in a later PTB; read either,
    without the deprecation warning."""
    with warnings.catch_warnings(action="ignore", category=PTBDeprecationWarning):
        value: int | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
