"""The LINE channel: line-bot-sdk v3 verifies and parses webhooks (``WebhookParser``)
and sends through the async Messaging API; no ``WebhookHandler``, which calls its
handlers without awaiting them.

A webhook event becomes an :class:`~adapters.channels.channel.Inbound` (event id =
``webhookEventId``, which a redelivery keeps, so it is processed once). The application
queues the replies in the outbox with a route naming the event's reply token, when
it arrived and a turn id; the dispatcher hands this adapter one turn's replies at a
time, at most five (LINE's limit per call). The first five of a turn go out with
the reply token while it is fresh; anything later, or anything the token no longer
carries (expired, already used), is pushed with an ``X-Line-Retry-Key`` derived from
the turn id and the batch, so a retried push is accepted once (LINE answers 409 to
the repeat).

Only one-to-one chats with a user are served: card data has no place in a group.

A reply with a chart goes as an image message before its text. LINE fetches the
picture from this server, when the member's app shows it, at an address that names the
reply's outbox row and when the address expires (:data:`IMAGE_LINK_LIFETIME` after the
send), signed with an HMAC over both and the member's user id (a key derived from the
vault's, :meth:`Conversations.secret`). Any other address, an altered one, an
expired one or one whose chat was unlinked since gets a bare 404; a good one gets the
PNG drawn from that row's figures (once: :meth:`Conversations.sent_picture`).

LINE's account linking: :meth:`Line.link_token` asks for a user's link token, and an
``accountLink`` event becomes an inbound of kind ``linked`` carrying the nonce (none
when LINE reports a failure); the application checks it.

Settings: ``LINE_CHANNEL_SECRET`` (32 hex characters) and ``LINE_CHANNEL_ACCESS_TOKEN``
(no whitespace), both or neither (LINE off); ``PUBLIC_URL`` (required with them:
the https:// address where LINE reaches this server, for the pictures);
``LINE_API_BASE_URL`` (another Messaging API host, e.g. a local stand-in; LINE Login's
verify and profile endpoints are asked there too).

The secure-entry page is a LIFF app: ``LINE_LIFF_ID`` (the LIFF app's id, its endpoint
``PUBLIC_URL/entry``) and ``LINE_LOGIN_CHANNEL_ID`` (the LINE Login channel it belongs
to), both or neither. The page posts the LIFF access token with the form;
:meth:`Line.entry_user` asks LINE whether the token is live and issued to that channel
(``GET /oauth2/v2.1/verify``) and whose it is (``GET /v2/profile``).
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    ImageMessage,
    Message,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
    URIAction,
)
from linebot.v3.webhooks import (
    AccountLinkEvent,
    Event,
    EventMode,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UnsendEvent,
    UserSource,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from adapters.channels.channel import (
    ENTRY_CHOICE,
    ENTRY_PAGE,
    ID_LIMIT,
    JSON_DEPTH_LIMIT,
    REPLY_LINK_LIFETIME,
    Capabilities,
    Channel,
    Conversations,
    EntrySdk,
    Inbound,
    Kind,
    Outgoing,
    Rejected,
    SendFailed,
    fits,
    json_depth,
)
from flows.messages import DEFAULT_LANG, label, render
from flows.replies import Choice, Reply

CHANNEL = "line"
SIGNATURE_HEADER = "X-Line-Signature"
MESSAGES_PER_CALL = 5
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)  # LINE honours one for about a minute
_TEXT_LIMIT = 5000  # UTF-16 code units per text message
_QUICK_REPLY_ITEMS = 13
_LABEL_LIMIT = 20  # characters of a quick-reply button
_DISPLAY_TEXT_LIMIT = 300
_LOADING_SECONDS = 20  # 5-60, a multiple of 5; the first message sent ends it earlier
_SEND_TIMEOUT = 10.0  # seconds per Messaging API call
_COURTESY_TIMEOUT = 3.0  # seconds for the loading animation, which must never hold a turn
_PLACES = 1000  # events of one request, ordered after the timestamp
#: Timestamps (milliseconds since the epoch) whose position fits the database's 64-bit
#: column; LINE's are 13 digits.
_TIMESTAMPS = range(0, 2**63 // _PLACES)
_INVALID_REPLY_TOKEN = "Invalid reply token"  # noqa: S105 (LINE's error text)
_SECRET_FORMAT = re.compile(r"[0-9A-Fa-f]{32}")  # a channel secret is 16 bytes in hex
#: How long LINE may fetch a chart after it was sent: the member's app loads it when
#: the chat is opened or scrolled, maybe days later. Past it the address answers 404
#: (the app keeps what it already loaded).
IMAGE_LINK_LIFETIME = REPLY_LINK_LIFETIME
IMAGES = "/images/line"  # where the charts are served, under PUBLIC_URL
_LINK_PURPOSE = "line image links"
_LARGEST_ID = 2**63 - 1  # no row has a larger id, and no database takes one

logger = logging.getLogger(__name__)


#: LINE's own hosts: the LIFF SDK the secure-entry page loads, and the APIs it talks to.
LIFF_SDK = "https://static.line-scdn.net/liff/edge/2/sdk.js"
LIFF_URL = "https://liff.line.me"
LINE_API = "https://api.line.me"
_LIFF_CONNECTS = (
    LINE_API,
    "https://access.line.me",
    "https://liffsdk.line-scdn.net",
    LIFF_URL,
    "https://liff-subwindow.line.me",
)
_LIFF_ID_FORMAT = re.compile(r"[0-9]{1,20}-[A-Za-z0-9]{1,32}")
_VERIFY_TIMEOUT = 5.0  # seconds for each of LINE Login's answers


@dataclass(frozen=True)
class Liff:
    """The LIFF app that opens the secure-entry page."""

    app_id: str
    login_channel_id: str


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    public_url: str
    api_base_url: str | None = None
    liff: Liff | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LineSettings | None":
        """None when neither credential is set (LINE off); half of them is an error."""
        secret = env.get("LINE_CHANNEL_SECRET") or ""
        token = env.get("LINE_CHANNEL_ACCESS_TOKEN") or ""
        if not (secret or token):
            return None
        if not secret:
            raise ValueError("LINE_CHANNEL_ACCESS_TOKEN is set but LINE_CHANNEL_SECRET is not")
        if not token:
            raise ValueError("LINE_CHANNEL_SECRET is set but LINE_CHANNEL_ACCESS_TOKEN is not")
        if not _SECRET_FORMAT.fullmatch(secret):
            raise ValueError(
                "LINE_CHANNEL_SECRET must be the channel secret of the LINE Developers "
                "console: 32 hexadecimal characters"
            )
        if any(character.isspace() for character in token):
            raise ValueError("LINE_CHANNEL_ACCESS_TOKEN must not contain spaces or line breaks")
        public_url = env.get("PUBLIC_URL") or ""
        parts = urlsplit(public_url)
        if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                "LINE needs PUBLIC_URL: the https:// address where LINE reaches this "
                "server (it fetches the charts sent to members from there)"
            )
        base_url = env.get("LINE_API_BASE_URL") or None
        return cls(
            secret,
            token,
            public_url.rstrip("/"),
            base_url.rstrip("/") if base_url else None,
            _liff(env),
        )


def _liff(env: Mapping[str, str]) -> Liff | None:
    app_id = env.get("LINE_LIFF_ID") or ""
    channel_id = env.get("LINE_LOGIN_CHANNEL_ID") or ""
    if not (app_id or channel_id):
        return None
    if not _LIFF_ID_FORMAT.fullmatch(app_id):
        raise ValueError(
            "LINE_LIFF_ID must be the LIFF app's id of the LINE Developers console "
            "(digits, '-', letters and digits), set with LINE_LOGIN_CHANNEL_ID"
        )
    if not (channel_id.isascii() and channel_id.isdigit() and len(channel_id) <= 20):
        raise ValueError(
            "LINE_LOGIN_CHANNEL_ID must be the LINE Login channel's id (digits), "
            "set with LINE_LIFF_ID"
        )
    return Liff(app_id, channel_id)


class Line(Channel):
    name = CHANNEL
    capabilities = Capabilities(keeps_history=True, images=True, links_accounts=True)
    batch_size = MESSAGES_PER_CALL

    def __init__(
        self,
        conversations: Conversations,
        configuration: Configuration,
        secret: str,
        *,
        public_url: str,
        liff: Liff | None = None,
        login_api: str = LINE_API,
    ) -> None:
        super().__init__(conversations)
        self._configuration = configuration
        self._parser = WebhookParser(secret)
        self._public_url = public_url
        self._liff = liff
        self._login_api = login_api
        self._login: httpx.AsyncClient | None = None
        self._link_key = conversations.secret(_LINK_PURPOSE)
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None

    @classmethod
    def configured(cls, env: Mapping[str, str], conversations: Conversations) -> Self | None:
        settings = LineSettings.from_env(env)
        if settings is None:
            return None
        configuration = Configuration(
            host=settings.api_base_url, access_token=settings.access_token
        )
        return cls(
            conversations,
            configuration,
            settings.channel_secret,
            public_url=settings.public_url,
            liff=settings.liff,
            login_api=settings.api_base_url or LINE_API,
        )

    def routes(self) -> list[BaseRoute]:
        """The webhook, and the charts LINE fetches for the image messages."""
        images = Route(
            IMAGES + "/{reply:int}/{expires:int}/{signature}.png", self._image, methods=["GET"]
        )
        return [*super().routes(), images]

    async def start(self) -> None:
        """Open the HTTP client; aiohttp needs the running event loop for that."""
        self._client = AsyncApiClient(self._configuration)
        self._api = AsyncMessagingApi(self._client)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._login is not None:
            await self._login.aclose()

    async def receive(self, request: Request) -> list[str]:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:  # refused before the body is read
            raise Rejected(400, "no signature")
        return await self.handle(self.parse(await request.body(), signature))

    def parse(self, body: bytes, signature: str | None) -> list[Event]:
        """The events of a webhook request, once its signature over the raw body holds.
        LINE's "Verify" button sends no events at all. A body nested deeper than
        :data:`JSON_DEPTH_LIMIT` is refused before any parser recurses into it."""
        if not signature:
            raise Rejected(400, "no signature")
        if json_depth(body) > JSON_DEPTH_LIMIT:
            raise Rejected(400, "nested too deep")
        try:
            return list(self._parser.parse(body.decode("utf-8"), signature))
        except InvalidSignatureError:
            raise Rejected(400, "wrong signature") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise Rejected(400, type(error).__name__) from None

    async def handle(self, events: Sequence[Event]) -> list[str]:
        """Apply the events: each user's in order, different users' side by side (one
        request may carry many users' events). Returns the users whose replies are
        queued."""
        by_user: dict[str, list[tuple[int, Event]]] = {}
        for place, event in enumerate(events):
            by_user.setdefault(getattr(event.source, "user_id", None) or "", []).append(
                (place, event)
            )
        handled = await asyncio.gather(*(self._handle_all(group) for group in by_user.values()))
        return [user for users in handled for user in users]

    async def _handle_all(self, events: Sequence[tuple[int, Event]]) -> list[str]:
        users: list[str] = []
        for place, event in events:
            user_id = await self._handle(event, place)
            if user_id is not None and user_id not in users:
                users.append(user_id)
        return users

    async def send(self, batch: Sequence[Outgoing]) -> None:
        """Send consecutive replies of one turn in one call: reply or push."""
        head = batch[0]
        await self._deliver(head.user_id, head.route, head.part, self._messages(batch))

    def _messages(self, batch: Sequence[Outgoing]) -> list[Message]:
        """One text message per reply, each chart an image message before its text.
        Pictures that would take the call past LINE's five messages are said in words."""
        pictures = sum(outgoing.reply.image is not None for outgoing in batch)
        pictured = len(batch) + pictures <= MESSAGES_PER_CALL
        messages: list[Message] = []
        for outgoing in batch:
            if pictured and outgoing.reply.image is not None:
                url = self.image_url(outgoing)
                messages.append(ImageMessage(original_content_url=url, preview_image_url=url))
            reply = self._opening(outgoing.reply)
            messages.append(_message(reply, outgoing.lang, pictured=pictured))
        return messages

    def _opening(self, reply: Reply) -> Reply:
        """The reply with its secure-entry button opening the LIFF app."""
        choices = tuple(
            replace(choice, url=self.entry_link(choice.url))
            if choice.data == ENTRY_CHOICE and choice.url
            else choice
            for choice in reply.choices
        )
        return replace(reply, choices=choices)

    # The secure-entry page, as a LIFF app

    def entry_link(self, path: str) -> str | None:
        if self._liff is None:
            return None
        return f"{LIFF_URL}/{self._liff.app_id}{path.removeprefix(ENTRY_PAGE)}"

    def entry_sdk(self) -> EntrySdk | None:
        if self._liff is None:
            return None
        return EntrySdk(LIFF_SDK, connect=_LIFF_CONNECTS, settings={"liff": self._liff.app_id})

    async def entry_user(self, request: Request, proof: str) -> str | None:
        """The LINE user whose LIFF access token ``proof`` is, when LINE says it is live
        and was issued to this bot's LINE Login channel; the token is never logged."""
        if self._liff is None or not proof or any(c.isspace() for c in proof):
            return None
        if self._login is None:
            self._login = httpx.AsyncClient(base_url=self._login_api, timeout=_VERIFY_TIMEOUT)
        try:
            verified = await self._login.get("/oauth2/v2.1/verify", params={"access_token": proof})
            if verified.status_code != 200:
                return None
            token = verified.json()
            if str(token.get("client_id")) != self._liff.login_channel_id:
                return None
            if not isinstance(token.get("expires_in"), int) or token["expires_in"] <= 0:
                return None
            profile = await self._login.get(
                "/v2/profile", headers={"Authorization": f"Bearer {proof}"}
            )
            user = profile.json().get("userId") if profile.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            logger.warning("LINE Login did not answer the entry check: %s", type(error).__name__)
            return None
        return user if isinstance(user, str) and fits(user) else None

    def route_to(self, user_id: str) -> Mapping[str, Any]:
        """No reply token: the replies are pushed (a retry key per turn, as always)."""
        return {
            "reply_token": None,
            "received_at": self.conversations.now().isoformat(),
            "turn": uuid.uuid4().hex,
        }

    def image_url(self, outgoing: Outgoing) -> str:
        """The signed address of the reply's chart, good for :data:`IMAGE_LINK_LIFETIME`."""
        expires = int((self.conversations.now() + IMAGE_LINK_LIFETIME).timestamp())
        signature = self._signature(outgoing.id, outgoing.user_id, expires)
        return f"{self._public_url}{IMAGES}/{outgoing.id}/{expires}/{signature}.png"

    async def _image(self, request: Request) -> Response:
        """The chart of one sent reply, for the address :meth:`image_url` signed; a bare
        404 for anything else, so an address tells nothing about other replies."""
        reply, expires = request.path_params["reply"], request.path_params["expires"]
        left = expires - int(self.conversations.now().timestamp())
        if left <= 0 or reply > _LARGEST_ID:
            return Response(status_code=404)
        outgoing = await self.conversations.queued(CHANNEL, reply)
        if outgoing is None or outgoing.reply.image is None:
            return Response(status_code=404)
        expected = self._signature(reply, outgoing.user_id, expires)
        given = request.path_params["signature"].encode()  # bytes: any character may come
        if not hmac.compare_digest(given, expected.encode()):
            return Response(status_code=404)
        png = await self.conversations.sent_picture(CHANNEL, reply)
        if png is None:  # the member unlinked the chat since
            return Response(status_code=404)
        return Response(
            png, media_type="image/png", headers={"Cache-Control": f"private, max-age={left}"}
        )

    def _signature(self, reply: int, user_id: str, expires: int) -> str:
        signed = f"{reply}\x00{user_id}\x00{expires}".encode()
        digest = hmac.new(self._link_key, signed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    async def link_token(self, user_id: str) -> str:
        """LINE's link token for the user (valid 10 minutes, single use)."""
        try:
            issued = await self._messaging().issue_link_token(
                user_id, _request_timeout=_SEND_TIMEOUT
            )
        except ApiException as error:
            raise _failure(error) from None
        return str(issued.link_token)

    async def _handle(self, event: Event, place: int) -> str | None:
        inbound = _inbound(event, place)
        if inbound is None:
            return None
        route = {
            "reply_token": getattr(event, "reply_token", None),
            "received_at": self.conversations.now().isoformat(),
            "turn": uuid.uuid4().hex,
        }
        animation = None
        if isinstance(event, MessageEvent | PostbackEvent):  # the member waits for an answer
            animation = asyncio.create_task(self._show_loading(inbound.user_id))
        try:
            outcome = await self.conversations.handle(inbound, route=route)
        finally:
            if animation is not None:
                await animation
        if outcome.failed and route["reply_token"]:  # rolled back, nothing queued: apologise
            apology: list[Message] = [_message(reply, DEFAULT_LANG) for reply in outcome.replies]
            try:
                await self._deliver(inbound.user_id, route, 0, apology)
            except Exception as error:  # LINE away too: the member may simply write again
                logger.warning("line apology failed: %s", type(error).__name__)
        return inbound.user_id

    async def _deliver(
        self, user_id: str, route: Mapping[str, Any], part: int, messages: list[Message]
    ) -> None:
        api = self._messaging()
        token = route.get("reply_token")
        if part == 0 and token and self._fresh(route):
            try:
                await api.reply_message(
                    ReplyMessageRequest(reply_token=token, messages=messages),
                    _request_timeout=_SEND_TIMEOUT,
                )
                return
            except ApiException as error:
                if not _invalid_reply_token(error):
                    raise _failure(error) from None
                logger.info("line reply token refused; pushing instead")
        retry_key = str(uuid.uuid5(uuid.UUID(route["turn"]), str(part)))
        try:
            await api.push_message(
                PushMessageRequest(to=user_id, messages=messages),
                x_line_retry_key=retry_key,
                _request_timeout=_SEND_TIMEOUT,
            )
        except ApiException as error:
            if error.status != 409:  # 409: this retry key was accepted before
                raise _failure(error) from None

    async def _show_loading(self, user_id: str) -> None:
        """A courtesy while the turn runs (it may ask the issuer); its failure is logged
        and otherwise ignored."""
        request = ShowLoadingAnimationRequest(chat_id=user_id, loading_seconds=_LOADING_SECONDS)
        try:
            await self._messaging().show_loading_animation(
                request, _request_timeout=_COURTESY_TIMEOUT
            )
        except Exception as error:  # any failure at all: the turn goes on without it
            logger.warning("line loading animation failed: %s", type(error).__name__)

    def _fresh(self, route: Mapping[str, Any]) -> bool:
        received = datetime.fromisoformat(route["received_at"])
        return self.conversations.now() - received < REPLY_TOKEN_LIFETIME

    def _messaging(self) -> AsyncMessagingApi:
        if self._api is None:
            raise RuntimeError("start() opens the client before any webhook")
        return self._api


def _inbound(event: Event, place: int) -> Inbound | None:
    """The engine's view of an event; None for anything but a user in a one-to-one chat
    writing, pressing a button, following, unfollowing or unsending.

    An event whose user id or event id the database cannot keep (longer than its
    column, LINE's being 33 and 26 characters, or with a lone surrogate), or whose
    timestamp is out of range, is dropped: one request carries many users' events, and
    refusing it whole would hold the others back."""
    source = event.source
    if not isinstance(source, UserSource) or not source.user_id:
        return None
    if not (fits(source.user_id) and fits(event.webhook_event_id)):
        logger.warning("line event dropped: an id longer than %s characters or not text", ID_LIMIT)
        return None
    if event.timestamp not in _TIMESTAMPS:
        logger.warning("line event dropped: a timestamp out of range")
        return None
    if event.mode != EventMode.ACTIVE:  # another channel holds the chat (standby)
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": source.user_id,
        "event_id": event.webhook_event_id,
        "position": event.timestamp * _PLACES + min(place, _PLACES - 1),
    }
    if isinstance(event, MessageEvent):
        message = event.message
        text = message.text if isinstance(message, TextMessageContent) else None
        return Inbound(**common, text=text)
    if isinstance(event, PostbackEvent):
        return Inbound(**common, choice=event.postback.data)
    if isinstance(event, FollowEvent):
        return Inbound(**common, kind=Kind.OPENED)
    if isinstance(event, UnfollowEvent):
        return Inbound(**common, kind=Kind.LEFT)
    if isinstance(event, UnsendEvent):
        return Inbound(**common, kind=Kind.UNSENT)
    if isinstance(event, AccountLinkEvent):
        nonce = event.link.nonce if event.link.result == "ok" else None
        return Inbound(**common, kind=Kind.LINKED, data=nonce)
    return None


def _message(reply: Reply, lang: str, *, pictured: bool = False) -> TextMessage:
    return TextMessage(
        text=_fit(render(reply, lang, pictured=pictured), _TEXT_LIMIT),
        quick_reply=_buttons(reply, lang),
    )


def _buttons(reply: Reply, lang: str) -> QuickReply | None:
    """Choices as quick-reply buttons; a press comes back as a postback with the choice's
    data and shows the full label in the chat."""
    if not reply.choices:
        return None
    items = [QuickReplyItem(action=_action(choice, lang)) for choice in reply.choices]
    return QuickReply(items=items[:_QUICK_REPLY_ITEMS])


def _action(choice: Choice, lang: str) -> PostbackAction | URIAction:
    """A button that opens a page (the sign-in page) or sends its data back."""
    shown = _fit(label(choice, lang), _LABEL_LIMIT)
    if choice.url is not None:
        return URIAction(label=shown, uri=choice.url)
    return PostbackAction(
        label=shown,
        data=choice.data,
        display_text=_fit(label(choice, lang), _DISPLAY_TEXT_LIMIT),
    )


def _fit(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-16 code units (how LINE counts), ending in "…" when
    cut. Counting UTF-16 units is never laxer than counting characters."""
    if _utf16_units(text) <= limit:
        return text
    kept, used = [], 1  # room for the ellipsis
    for character in text:
        used += _utf16_units(character)
        if used > limit:
            break
        kept.append(character)
    return "".join(kept) + "…"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _invalid_reply_token(error: ApiException) -> bool:
    return error.status == 400 and _INVALID_REPLY_TOKEN.lower() in str(error.body or "").lower()


def _failure(error: ApiException) -> SendFailed:
    """A refused request is not retried (LINE would refuse it again); an overloaded,
    unreachable or unauthorised API is (the token may be fixed meanwhile)."""
    status = error.status or 0
    permanent = 400 <= status < 500 and status not in (401, 408, 429)
    return SendFailed(f"LINE {status}", permanent=permanent)
