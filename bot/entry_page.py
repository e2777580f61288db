"""The secure-entry page: card data, a PIN or a password typed into a one-time page
instead of the chat, where the platform would keep it in the member's history.

At a step that takes such data the engine offers a button to this page with a random
token (kept as a keyed hash, :mod:`storage.entry_tokens`): single use, for that
conversation at that step, for :data:`~bot.engine.ENTRY_LIFETIME`. The channel the
chat is on opens it its own way (a Telegram Mini App, a LINE LIFF app, in place in the
web chat) and proves who opened it (:meth:`Channel.entry_user`: Telegram's signed
``initData``, LINE's LIFF access token, the web chat's signed cookie); only the chat's
own user gets anything in.

What is submitted goes into the engine as if typed in the chat (the same step, the
same checks and answers, the transcript's usual placeholders), one field after
another while the flow asks for the next one; nothing of it is logged or kept here.
The replies reach the chat through the outbox, as every reply does.

Every answer is ``no-store`` with a strict Content-Security-Policy (a nonce for the
page's own script and style, the platform's script its only other source); a POST
must come from this origin and carry the CSRF token of the form in its cookie too.
"""

import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from adapters.channels.channel import ENTRY_PAGE, Channel, EntrySdk, Inbound
from bot import forms
from bot.engine import ENTRY_LIFETIME, ENTRY_PURPOSE
from bot.runtime import Runtime
from flows.cards import Brand, brand_table
from flows.flow import Field, Step
from flows.messages import DEFAULT_LANG, text
from storage import conversations, entry_tokens
from storage.database import aware
from storage.models import EntryToken

CSRF_COOKIE = "netanswer_entry_csrf"
#: Where the web chat's page is: the form goes back there once sent.
_CHAT_PAGE = "/"
_FIELD_LIMIT = 512  # characters of any form field; a LIFF access token is far shorter
_FORM_FIELDS = 12
#: How each field is typed on a phone: input type, keyboard, autofill, longest.
_INPUTS: dict[Field, tuple[str, str, str, int]] = {
    Field.CARD: ("text", "numeric", "cc-number", 32),
    Field.EXPIRY: ("text", "numeric", "cc-exp", 10),
    Field.CODE: ("password", "numeric", "cc-csc", 8),
    Field.PASSWORD: ("password", "text", "new-password", 64),
    Field.REPEAT: ("password", "text", "new-password", 64),
    Field.PIN: ("password", "numeric", "off", 8),
}

logger = logging.getLogger(__name__)


@dataclass
class _Page:
    """What one answer of the page shows."""

    lang: str
    notice: str = ""
    fields: Sequence[Field] = ()
    token: str = ""
    brand: Brand | None = None  # known once the card was entered
    sdk: EntrySdk | None = None
    platform: str = ""
    sent: bool = False


def routes(runtime: Runtime, channels: Sequence[Channel]) -> list[Route]:
    """The page's route, for the chats of ``channels`` that offer it."""
    offering = {channel.name: channel for channel in channels if channel.entry_link(ENTRY_PAGE)}

    async def page(request: Request) -> Response:
        if request.method == "GET":
            return await _show(runtime, offering, request)
        return await _submit(runtime, offering, request)

    return [Route(ENTRY_PAGE, page, methods=["GET", "POST"])]


async def _show(runtime: Runtime, channels: Mapping[str, Channel], request: Request) -> Response:
    token = _token_in(request.query_params)
    async with runtime.database.transaction() as session:
        found = await _usable(runtime, session, token, channels)
        if found is None:
            return _answer(_Page(DEFAULT_LANG, text("entry.gone", DEFAULT_LANG)), status=410)
        row, step, lang, brand = found
    channel = channels[row.channel]
    page = _Page(
        lang,
        fields=step.entry,
        token=token,
        brand=brand,
        sdk=channel.entry_sdk(),
        platform=channel.name,
    )
    return _answer(page, secure=_https(runtime, request))


async def _submit(runtime: Runtime, channels: Mapping[str, Channel], request: Request) -> Response:
    form = forms.parsed(await request.body(), fields=_FORM_FIELDS, limit=_FIELD_LIMIT)
    if not (_same_origin(runtime, request) and _csrf_holds(request, form.get("csrf", ""))):
        logger.warning("entry page: a POST without this origin or its CSRF token refused")
        return _answer(_Page(DEFAULT_LANG, text("entry.refused", DEFAULT_LANG)), status=403)
    token = form.get("token", "")
    async with runtime.database.transaction() as session:
        found = await _usable(runtime, session, token, channels)
    if found is None:
        return _answer(_Page(DEFAULT_LANG, text("entry.gone", DEFAULT_LANG)), status=410)
    row, step, lang, _ = found
    channel = channels[row.channel]
    if await channel.entry_user(request, form.get("proof", "")) != row.user_id:
        logger.warning("entry page: the opener is not the chat's user (channel=%s)", row.channel)
        return _answer(_Page(lang, text("entry.refused", lang)), status=403)
    if not await _spend(runtime, row.id):  # a second submission of the same page
        return _answer(_Page(lang, text("entry.gone", lang)), status=410)
    if not await _enter(runtime, channel, row, step, form):
        return _answer(_Page(lang, text("entry.failed", lang)), status=500)
    if channel.entry_sdk() is None:  # in place (the web chat): back to the conversation
        return forms.no_store(RedirectResponse(_CHAT_PAGE, status_code=303))
    page = _Page(lang, text("entry.sent", lang), sdk=channel.entry_sdk(), platform=channel.name)
    page.sent = True
    return _answer(page, secure=_https(runtime, request))


async def _enter(
    runtime: Runtime, channel: Channel, row: EntryToken, step: Step, form: Mapping[str, str]
) -> bool:
    """Each field into the engine as if typed: the first at the token's step, each next
    one only where the flow then asks for it (a refused card number stops there, and
    the expiry and code typed with it are dropped). False when a turn failed and was
    rolled back: the member is told on the page."""
    flow, state = row.flow, row.state
    route = channel.route_to(row.user_id)
    for place, name in enumerate(step.entry):
        inbound = Inbound(
            row.channel,
            row.user_id,
            f"entry-{row.id}-{place}",
            text=form.get(name, ""),
            entry_step=f"{flow}:{state}",
        )
        outcome = await runtime.handle(inbound, route=route)
        if outcome.failed:  # rolled back; the first one failing leaves the page usable
            if place == 0:
                await _spend(runtime, row.id, used=False)
            return False
        if outcome.duplicate:
            break
        flow, state = outcome.flow, outcome.state
        following = step.entry[place + 1 :]
        due = runtime.engine.flows[flow].flow.steps.get(state)
        if not following or due is None or due.entry[:1] != following[:1]:
            break
    await runtime.deliver(row.channel, row.user_id)
    return True


async def _usable(
    runtime: Runtime, session: AsyncSession, token: str, channels: Mapping[str, Channel]
) -> tuple[EntryToken, Step, str, Brand | None] | None:
    """The token's row, its step, the member's language and the card's brand, while the
    page may be used: issued less than its lifetime ago, not used, for a channel that
    offers the page, and the conversation still at that step."""
    if not token or len(token) > _FIELD_LIMIT:
        return None
    row = await entry_tokens.by_index(session, runtime.vault.index(token, ENTRY_PURPOSE))
    now = runtime.engine.services.clock()
    if row is None or row.used_at is not None or row.channel not in channels:
        return None
    if now - aware(row.issued_at) > ENTRY_LIFETIME:
        return None
    conversation = await conversations.find(session, row.channel, row.user_id)
    if conversation is None or conversation.id != row.conversation_id:
        return None
    if (conversation.flow, conversation.state) != (row.flow, row.state):
        return None
    step = runtime.engine.flows[row.flow].flow.steps[row.state]
    brand = conversation.slots.get("brand")
    return row, step, conversation.lang, Brand(brand) if brand in set(Brand) else None


async def _spend(runtime: Runtime, token_id: int, *, used: bool = True) -> bool:
    """Mark the token used, once: False when another submission got there first.
    ``used=False`` gives it back (nothing of the submission was applied)."""
    async with runtime.database.transaction() as session:
        row = await entry_tokens.find(session, token_id, lock=True)
        if row is None or (used and row.used_at is not None):
            return False
        row.used_at = runtime.engine.services.clock() if used else None
    return True


def _token_in(query: Mapping[str, str]) -> str:
    """The token of the address: ``?token=``, or inside LIFF's ``liff.state`` (LINE
    opens the page first with the address's query there)."""
    token = query.get("token", "")
    if not token and query.get("liff.state", "").startswith("?"):
        token = parse_qs(query["liff.state"][1:]).get("token", [""])[0]
    return token


def _same_origin(runtime: Runtime, request: Request) -> bool:
    """The POST names no origin but this server's: ``PUBLIC_URL``'s where it is set,
    else the address this request was sent to (the web chat on this machine)."""
    public = urlsplit(runtime.settings.public_url or "")
    if public.netloc:
        return forms.not_cross_site(request, public.scheme, public.netloc)
    return forms.not_cross_site(request, request.url.scheme, request.url.netloc)


def _https(runtime: Runtime, request: Request) -> bool:
    return (runtime.settings.public_url or str(request.url)).startswith("https://")


def _csrf_holds(request: Request, posted: str) -> bool:
    return forms.token_holds(request, CSRF_COOKIE, posted)


def _answer(page: _Page, *, status: int = 200, secure: bool = True) -> Response:
    csrf = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(16)
    lang, sdk = page.lang, page.sdk
    html = forms.TEMPLATES.get_template("entry_page.html").render(
        lang=lang,
        t=lambda key, **params: text(key, lang, params),
        notice=page.notice,
        fields=[(name, *_INPUTS[name]) for name in page.fields],
        token=page.token,
        csrf=csrf,
        nonce=nonce,
        sdk=sdk,
        platform=page.platform,
        sent=page.sent,
        brand=page.brand.label if page.brand else "",
        codes=json.dumps(list(page.brand.code_lengths) if page.brand else []),
        brands=json.dumps(brand_table()),
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = _policy(nonce, sdk)
    if sdk is None or not sdk.frame_ancestors:
        response.headers["X-Frame-Options"] = "DENY"
    if page.fields:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure)
    return forms.no_store(response)


def _policy(nonce: str, sdk: EntrySdk | None) -> str:
    """Nothing but this page's own script and style, and the platform's script with what
    it must reach; forms only to this server; framed only by the platform's web client."""
    script = f"'nonce-{nonce}'" + (f" {_origin(sdk.script)}" if sdk else "")
    connect = " ".join(sdk.connect) if sdk and sdk.connect else "'none'"
    ancestors = " ".join(sdk.frame_ancestors) if sdk and sdk.frame_ancestors else "'none'"
    return (
        f"default-src 'none'; script-src {script}; style-src 'nonce-{nonce}'; "
        f"connect-src {connect}; form-action 'self'; frame-ancestors {ancestors}; "
        "base-uri 'none'"
    )


def _origin(address: str) -> str:
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.netloc}"
