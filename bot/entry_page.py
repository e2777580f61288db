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
page's own script and style, the platform's script its only other source); a POST must
not come from another origin and must carry the form's CSRF token, an HMAC of the page's
token under a server key.
"""

import hashlib
import hmac
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

from adapters.channels.channel import (
    ENTRY_CHOICE,
    ENTRY_PAGE,
    Channel,
    Entered,
    EntrySdk,
    Inbound,
)
from bot import forms
from bot.engine import ENTRY_LIFETIME, ENTRY_PURPOSE, UNAVAILABLE
from bot.runtime import Runtime
from flows.cards import Brand, brand_table
from flows.flow import Field, Step
from flows.messages import DEFAULT_LANG, text
from flows.signin import SIGNIN
from storage import conversations, entry_tokens
from storage.database import aware
from storage.models import EntryToken

#: Where the web chat's page is: the form goes back there once sent.
_CHAT_PAGE = "/"
_FIELD_LIMIT = 512  # characters of any answer, the token or the CSRF token
#: Characters of the platform's proof: Telegram's initData (a photo address, a
#: signature, a name in any script) runs to several hundred.
_PROOF_LIMIT = 8192
_FORM_FIELDS = 12
_CSRF_PURPOSE = "entry-page-csrf"
#: How each field is typed on a phone: input type, keyboard, autofill, longest.
_INPUTS: dict[Field, tuple[str, str, str, int]] = {
    Field.CARD: ("text", "numeric", "cc-number", 32),
    Field.EXPIRY: ("text", "numeric", "cc-exp", 10),
    Field.CODE: ("password", "numeric", "cc-csc", 8),
    Field.PASSWORD: ("password", "text", "new-password", 64),  # signing in: current-password
    Field.REPEAT: ("password", "text", "new-password", 64),
    Field.PIN: ("password", "numeric", "off", 8),
}

logger = logging.getLogger(__name__)


@dataclass
class _Page:
    """What one answer of the page shows."""

    lang: str
    notice: str = ""
    flow: str = ""
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
            return _answer(runtime, _Page(DEFAULT_LANG, text("entry.gone", DEFAULT_LANG)), 410)
        row, step, lang, brand = found
    channel = channels[row.channel]
    page = _Page(
        lang,
        flow=row.flow,
        fields=step.entry,
        token=token,
        brand=brand,
        sdk=channel.entry_sdk(),
        platform=channel.name,
    )
    return _answer(runtime, page)


async def _submit(runtime: Runtime, channels: Mapping[str, Channel], request: Request) -> Response:
    form = _form(await request.body())
    token = form.get("token", "")
    if not (_same_origin(runtime, request) and _csrf_holds(runtime, token, form.get("csrf", ""))):
        logger.warning("entry page: a POST from another origin or without its CSRF token refused")
        return _answer(runtime, _Page(DEFAULT_LANG, text("entry.refused", DEFAULT_LANG)), 403)
    async with runtime.database.transaction() as session:
        found = await _usable(runtime, session, token, channels)
    if found is None:
        return _answer(runtime, _Page(DEFAULT_LANG, text("entry.gone", DEFAULT_LANG)), 410)
    row, step, lang, _ = found
    channel = channels[row.channel]
    if await channel.entry_user(request, form.get("proof", "")) != row.user_id:
        logger.warning("entry page: the opener is not the chat's user (channel=%s)", row.channel)
        return _answer(runtime, _Page(lang, text("entry.refused", lang)), 403)
    if not await _spend(runtime, row.id):  # a second submission, or its time ran out
        return _answer(runtime, _Page(lang, text("entry.gone", lang)), 410)
    try:
        entered = await _enter(runtime, channel, row, step, form)
    except UNAVAILABLE:  # nothing of it was applied, or the chat asks again: try again
        await _spend(runtime, row.id, used=False)
        return _answer(runtime, _Page(lang, text("entry.failed", lang)), 503)
    if not entered:
        return _answer(runtime, _Page(lang, text("entry.failed", lang)), 500)
    if channel.entry_sdk() is None:  # in place (the web chat): back to the conversation
        return forms.no_store(RedirectResponse(_CHAT_PAGE, status_code=303))
    page = _Page(lang, text("entry.sent", lang), sdk=channel.entry_sdk(), platform=channel.name)
    page.sent = True
    return _answer(runtime, page)


def _form(body: bytes) -> dict[str, str]:
    """The posted form: the proof up to its own limit, every other field to 512."""
    form = forms.parsed(body, fields=_FORM_FIELDS, limit=_PROOF_LIMIT)
    return {
        name: value for name, value in form.items() if name == "proof" or len(value) <= _FIELD_LIMIT
    }


async def _enter(
    runtime: Runtime, channel: Channel, row: EntryToken, step: Step, form: Mapping[str, str]
) -> bool:
    """Each field into the engine as if typed: the first at the token's step, each next
    one only where the flow then asks for it (a refused card number stops there, and
    the expiry and code typed with it are dropped). False when a turn failed and was
    rolled back: the member is told on the page."""
    flow, state = row.flow, row.state
    for place, name in enumerate(step.entry):
        then = step.entry[place + 1] if place + 1 < len(step.entry) else None
        inbound = Inbound(
            row.channel,
            row.user_id,
            # The token's own random index: ids are remembered for days, rows are not.
            f"entry-{row.token_index[:40]}-{place}",
            text=form.get(name, ""),
            entry=Entered(f"{flow}:{state}", then),
        )
        # A route of its own per turn (LINE's retry key is made from it).
        outcome = await runtime.handle(inbound, route=channel.route_to(row.user_id))
        if outcome.failed or outcome.duplicate:
            if place == 0:  # rolled back, nothing applied: the page may be used again
                await _spend(runtime, row.id, used=False)
            else:  # an answer went in, its question was left for the page: ask it now
                await runtime.handle(
                    Inbound(
                        row.channel, row.user_id, inbound.event_id + "-ask", choice=ENTRY_CHOICE
                    ),
                    route=channel.route_to(row.user_id),
                )
                await runtime.deliver(row.channel, row.user_id)
            return False
        flow, state = outcome.flow, outcome.state
        due = runtime.engine.flows[flow].flow.steps.get(state)
        if then is None or due is None or due.entry[:1] != (then,):
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
    """Mark the token used, once, while it is good: False when another submission got
    there first or its time ran out meanwhile. ``used=False`` gives it back (nothing of
    the submission was applied)."""
    now = runtime.engine.services.clock()
    async with runtime.database.transaction() as session:
        row = await entry_tokens.find(session, token_id, lock=True)
        if row is None or (used and row.used_at is not None):
            return False
        if used and now - aware(row.issued_at) > ENTRY_LIFETIME:
            return False
        row.used_at = now if used else None
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


def _csrf(runtime: Runtime, token: str) -> str:
    """The form's CSRF token: bound to the page's own token by a server key, so no
    cookie is needed (Telegram's web client frames the page cross-site, where a
    SameSite cookie would not be sent), and no other page's token fits."""
    key = runtime.vault.derived_key(_CSRF_PURPOSE)
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _csrf_holds(runtime: Runtime, token: str, posted: str) -> bool:
    return bool(token) and hmac.compare_digest(_csrf(runtime, token).encode(), posted.encode())


def _answer(runtime: Runtime, page: _Page, status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(16)
    lang, sdk = page.lang, page.sdk
    password = "current-password" if page.flow == SIGNIN.name else "new-password"
    html = forms.TEMPLATES.get_template("entry_page.html").render(
        lang=lang,
        t=lambda key, **params: text(key, lang, params),
        notice=page.notice,
        fields=[_input(name, password) for name in page.fields],
        token=page.token,
        csrf=_csrf(runtime, page.token) if page.token else "",
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
    return forms.no_store(response)


def _input(name: Field, password: str) -> tuple[str, str, str, str, int]:
    kind, keyboard, autofill, longest = _INPUTS[name]
    return name, kind, keyboard, password if autofill == "new-password" else autofill, longest


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
