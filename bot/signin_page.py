"""LINE's sign-in page: the member opens it from the chat with LINE's link token,
types the Net Answer ID and password, then the passcode sent to the phone the issuer
holds, and is sent on to LINE's account-link dialog with a fresh single-use nonce.

The checks are the chat sign-in's own (``bot/signin.py``: the same answer for an
unknown ID and a wrong password, the failure counts of the ID and of the chat, the
passcode of ``bot/passcodes.py``), run on a :class:`~bot.turn.Turn` of the chat the
link token was issued for. The page keeps its progress in the link token's row
(``storage/account_links.py``), never a password or passcode.

Every answer is ``no-store`` with a strict Content-Security-Policy (no script at all,
forms only to this server and to LINE's dialog); a POST must come from this origin
and carry the CSRF token of the form in its cookie as well.
"""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import forms, passcodes, signin
from bot.engine import Engine
from bot.turn import Turn, Unprepared
from flows.messages import render, text
from flows.problems import Invalid
from flows.replies import Reply, phrase
from flows.signin import SIGNIN, Event, State
from storage import account_links, conversations
from storage.database import aware
from storage.models import AccountLink

#: LINE's account-link dialog, where the browser goes with the link token and nonce.
ACCOUNT_LINK_DIALOG = "https://access.line.me/dialog/bot/accountLink"
CSRF_COOKIE = "netanswer_signin_csrf"
_FIELD_LIMIT = 512  # characters of any form field; a link token is far shorter
_FORM_FIELDS = 8

logger = logging.getLogger(__name__)


@dataclass
class _Page:
    """What one answer of the page shows."""

    lang: str
    step: str  # password, passcode, or "" (nothing to type: gone or refused)
    link_token: str = ""
    notices: list[str] = field(default_factory=list)


def routes(engine: Engine) -> list[Route]:
    """The page's route, served where ``PUBLIC_URL`` points."""

    async def page(request: Request) -> Response:
        if request.method == "GET":
            return await _show(engine, request)
        return await _submit(engine, request)

    return [Route(signin.PAGE_PATH, page, methods=["GET", "POST"])]


async def _show(engine: Engine, request: Request) -> Response:
    token = request.query_params.get("linkToken", "")
    async with engine.services.database.transaction() as session:
        run = await _run(engine, session, token)
        if run is None:
            return _answer(_Page("ja", "", notices=[text("page.gone", "ja")]), status=410)
        lang = await _lang(session, run)
        step = "passcode" if "otp" in run.slots else "password"
    return _answer(_Page(lang, step, token), secure=_https(engine))


async def _submit(engine: Engine, request: Request) -> Response:
    form = forms.parsed(await request.body(), fields=_FORM_FIELDS, limit=_FIELD_LIMIT)
    if not (_same_origin(engine, request) and _csrf_holds(request, form.get("csrf", ""))):
        logger.warning("sign-in page: a POST without this origin or its CSRF token refused")
        return _answer(_Page("ja", "", notices=[text("page.refused", "ja")]), status=403)
    prepared: dict[tuple[str, ...], Any] = {}
    while True:
        try:
            return await _submitted(engine, form, prepared)
        except Unprepared as slow:  # rolled back: argon2 runs with no lock or connection held
            await slow.prepare(prepared)


async def _submitted(
    engine: Engine, form: dict[str, str], prepared: dict[tuple[str, ...], Any]
) -> Response:
    token = form.get("linkToken", "")
    services = engine.services
    async with services.database.transaction() as session:
        found = await _run(engine, session, token)
        if found is None:
            return _answer(_Page("ja", "", notices=[text("page.gone", "ja")]), status=410)
        # The chat's conversation first, as every chat turn locks it: then the run.
        conversation, _ = await conversations.lock(
            session,
            found.channel,
            found.user_id,
            flow=engine.flows.entry.name,
            state=engine.flows.entry.start,
            lang="ja",
            at=services.clock(),
        )
        run = await _run(engine, session, token, lock=True)
        if run is None:
            return _answer(_Page("ja", "", notices=[text("page.gone", "ja")]), status=410)
        passcode_step = "otp" in run.slots
        turn = Turn(
            services=services,
            session=session,
            flow=SIGNIN,
            dialogue=SIGNIN.model(State.OTP if passcode_step else State.NETID, dict(run.slots)),
            conversation_id=conversation.id,
            channel=run.channel,
            user_id=run.user_id,
            lang=conversation.lang,
            now=services.clock(),
            prepared=prepared,
        )
        if passcode_step:
            nonce = await _passcode(turn, run, form.get("passcode", ""))
        else:
            nonce = None
            await _password(turn, run, form.get("netid", ""), form.get("password", ""))
        step = "passcode" if "otp" in run.slots else "password"
        if run.used_at is not None:  # the card was paused: this page is done
            step = ""
        await engine.notifier.queue(
            session, conversation.id, turn.lang, turn.notifications, turn.now
        )
    await engine.notifier.send(conversation.id, (note.kind for note in turn.notifications))
    if nonce is not None:
        query = urlencode({"linkToken": token, "nonce": nonce})
        return _no_store(RedirectResponse(f"{ACCOUNT_LINK_DIALOG}?{query}", status_code=303))
    notices = [render(reply, turn.lang) for reply in turn.replies]
    page = _Page(turn.lang, step, token if step else "", notices)
    return _answer(page, secure=_https(engine))


async def _password(turn: Turn, run: AccountLink, typed_id: str, typed_password: str) -> None:
    """ID and password, then the passcode is sent: the chat sign-in's own checks."""
    proven = (
        await signin.netid(turn, typed_id) == Event.NEXT
        and await signin.authenticate(turn, typed_password)
        and await signin.challenge(turn)
    )
    if not proven:
        run.slots = {}
        if await _paused(turn):
            run.used_at = turn.now
        return
    run.slots = dict(turn.slots)
    record = turn.slots["otp"]
    via = phrase(f"value.via.{record['via']}")
    turn.replies.append(Reply("page.sent", {"via": via, "to": record["to"]}))


async def _paused(turn: Turn) -> bool:
    """Whether the member's card is paused (known only once the password was right)."""
    return "card_index" in turn.slots and await passcodes.paused_until(turn) is not None


async def _passcode(turn: Turn, run: AccountLink, typed: str) -> str | None:
    """The passcode: right, and the nonce LINE's event must bring back is made (and
    returned); otherwise the member is told, as in the chat."""
    try:
        verdict = await passcodes.check(turn, typed)
    except Invalid as invalid:
        turn.replies.extend(Reply(problem.key, problem.params) for problem in invalid.problems)
        return None
    if verdict == passcodes.Verdict.RIGHT:
        nonce = secrets.token_urlsafe(32)  # 256 bits; LINE asks for 128 at least
        run.nonce_index = turn.services.vault.index(nonce, signin.NONCE_PURPOSE)
        run.nonce_at = turn.now
        run.member_id = turn.slots["member_id"]
        run.slots = {}
        return nonce
    if verdict == passcodes.Verdict.WRONG:
        turn.say("otp.wrong", remaining=await passcodes.attempts_left(turn))
        run.slots = dict(turn.slots)
    elif verdict == passcodes.Verdict.EXPIRED:
        turn.say("page.code_expired")
        run.slots = {}
    else:
        until = await passcodes.paused_until(turn)
        turn.say("identity.locked", until=turn.local_time(until or turn.now))
        run.slots, run.used_at = {}, turn.now
    return None


async def _run(
    engine: Engine, session: Any, token: str, *, lock: bool = False
) -> AccountLink | None:
    """The run of this link token while the page may be used: issued less than the
    token's lifetime ago, no nonce made yet, not given up."""
    if not token or len(token) > _FIELD_LIMIT:
        return None
    index = engine.services.vault.index(token, signin.TOKEN_PURPOSE)
    run = await account_links.by_token(session, index, lock=lock)
    now: datetime = engine.services.clock()
    if run is None or run.nonce_index is not None or run.used_at is not None:
        return None
    if now - aware(run.issued_at) > signin.LINK_TOKEN_LIFETIME:
        return None
    return run


async def _lang(session: Any, run: AccountLink) -> str:
    conversation = await conversations.find(session, run.channel, run.user_id)
    return conversation.lang if conversation is not None else "ja"


def _same_origin(engine: Engine, request: Request) -> bool:
    """The POST came from a page of this server (``PUBLIC_URL``'s origin)."""
    public = urlsplit(engine.services.public_url or "")
    return forms.sent_from(request, public.scheme, public.netloc)


def _https(engine: Engine) -> bool:
    return (engine.services.public_url or "").startswith("https://")


def _csrf_holds(request: Request, posted: str) -> bool:
    return forms.token_holds(request, CSRF_COOKIE, posted)


def _answer(page: _Page, *, status: int = 200, secure: bool = True) -> Response:
    """The page; ``secure``: the CSRF cookie travels over HTTPS only (``PUBLIC_URL``
    is https, as it must be in production)."""
    csrf = secrets.token_urlsafe(32)
    style_nonce = secrets.token_urlsafe(16)
    lang = page.lang
    html = forms.TEMPLATES.get_template("signin_page.html").render(
        lang=lang,
        title=text("page.title", lang),
        intro=text("page.intro", lang),
        netid_label=text("page.netid", lang),
        password_label=text("page.password", lang),
        passcode_label=text("page.passcode", lang),
        submit=text("page.submit", lang),
        notices=page.notices,
        step=page.step,
        csrf=csrf,
        link_token=page.link_token,
        style_nonce=style_nonce,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{style_nonce}'; "
        f"form-action 'self' {ACCOUNT_LINK_DIALOG.rsplit('/dialog', 1)[0]}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    if page.step:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["X-Frame-Options"] = "DENY"
    # Its POSTs are checked by their Origin, which a no-referrer page would send as null.
    return forms.no_store(response, referrer="same-origin")
