"""The support console under ``/support``: agents sign in, search the recorded
conversations, read one's redacted timeline beside the flow's graph (drawn by Mermaid),
replay it against the current flows, download its export and read the dashboard
(``bot/dashboard.py``). Every action is written to the audit log.

Agents are created with ``netanswer-bot support add-agent`` (argon2 hashes) and can be
disabled. A session is a signed cookie (itsdangerous, a key of the vault's ``secret``)
that expires after :data:`SESSION_SECONDS`; HttpOnly, SameSite=Strict, Secure over
HTTPS. It names the agent, the agent's session epoch (disabling moves it on, voiding
every earlier session) and a random id. Everything but the sign-in page sends a browser
without a valid session to sign in (303). A POST must come from this origin and carry
the session's CSRF token (an HMAC of its id: one per session, so several tabs work), or
on the sign-in form the token of a cookie set once. Sign-in failures are counted per
agent name and per client (``storage/lockouts.py``), and an unknown name or a disabled
agent answers as a wrong password does.

Pages are ``no-store`` with a strict Content-Security-Policy: scripts (Mermaid's own,
committed under ``static/support/``, and ours that runs it) and styles by nonce, images
from this origin, forms to this origin only.
"""

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import coverage, dashboard, forms, replay, transcripts
from bot.registry import FLOWS
from bot.runtime import Runtime
from storage import agents, audit, lockouts
from storage.database import Database
from storage.models import AuditEntry, TranscriptEntry

PREFIX = "/support"
SIGNIN = f"{PREFIX}/signin"
SESSION_COOKIE = "netanswer_support"
CSRF_COOKIE = "netanswer_support_csrf"
SESSION_SECONDS = 30 * 60
#: Sign-in failures allowed per agent name and per client within the period.
FAILURE_LIMIT = 5
FAILURE_PERIOD = timedelta(minutes=15)
MIN_PASSWORD = 12
_SALT = "support-session"
_FIELD_LIMIT = 256
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
_FORM_FIELDS = 4
_FAILED = "Sign-in failed, or too many attempts: check the name and password, or try later."

#: The files the console serves (behind sign-in): Mermaid's own script, ours that runs
#: it, and the console's icon.
_STATIC = Path(__file__).parent / "static" / "support"
_FILES = {
    "mermaid.min.js": "text/javascript",
    "graph.js": "text/javascript",
    "icon.svg": "image/svg+xml",
}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("bot", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


class AgentError(Exception):
    """The agent cannot be added (name taken, password too short)."""


async def add_agent(runtime: Runtime, name: str, password: str) -> None:
    """Create an agent; the creation itself is audited."""
    if not name or len(name) > 64 or not name.isprintable() or name.strip() != name:
        raise AgentError("an agent name is 1 to 64 printable characters")
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"the password needs at least {MIN_PASSWORD} characters")
    password_hash = await runtime.vault.hash_password(password)
    async with runtime.database.transaction() as session:
        now = runtime.engine.services.clock()
        if await agents.add(session, name, password_hash, now) is None:
            raise AgentError(f"an agent named {name!r} exists")
        audit.record_agent(session, now, name, "support.agent_added")


async def set_enabled(runtime: Runtime, name: str, *, enabled: bool) -> bool:
    """Enable or disable an agent; False when it already was. Disabling voids the agent's
    sessions at their next request. Audited either way it changes."""
    async with runtime.database.transaction() as session:
        now = runtime.engine.services.clock()
        agent = await agents.find(session, name)
        if agent is None:
            raise AgentError(f"there is no agent named {name!r}")
        if (agent.disabled_at is None) == enabled:
            return False
        if enabled:
            await agents.enable(session, name)
        else:
            await agents.disable(session, name, now)
        audit.record_agent(
            session, now, name, "support.agent_enabled" if enabled else "support.agent_disabled"
        )
        return True


async def audit_rows(database: Database) -> list[dict[str, Any]]:
    """The audit log, oldest first, as ``support audit --json`` prints it."""
    async with database.transaction() as session:
        return [_row(entry) for entry in await audit.entries(session)]


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "agent": entry.agent,
        "action": entry.action,
        "net_answer_id": entry.net_answer_id or None,
        "detail": entry.detail,
    }


@dataclass(frozen=True)
class _Session:
    agent: str
    sid: str  # random per sign-in: the forms' CSRF token is derived from it


def routes(runtime: Runtime) -> list[Route]:
    """The console's routes; ``bot/server.py`` mounts them with the sandbox or
    ``SUPPORT_CONSOLE=1``."""
    console = _Console(runtime)
    return [
        Route(SIGNIN, console.signin, methods=["GET", "POST"]),
        Route(f"{PREFIX}/signout", console.signout, methods=["POST"]),
        Route(PREFIX, console.listing, methods=["GET"]),
        Route(f"{PREFIX}/conversations/{{id:int}}", console.conversation, methods=["GET"]),
        Route(f"{PREFIX}/conversations/{{id:int}}/replay", console.replay, methods=["POST"]),
        Route(f"{PREFIX}/conversations/{{id:int}}/export", console.export, methods=["GET"]),
        Route(f"{PREFIX}/dashboard", console.dashboard, methods=["GET"]),
        Route(f"{PREFIX}/dashboard/{{name}}.png", console.chart, methods=["GET"]),
        Route(f"{PREFIX}/static/{{name}}", console.static, methods=["GET"]),
        Route(PREFIX + "/{rest:path}", console.elsewhere, methods=["GET", "POST"]),
    ]


class _Console:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._sessions = URLSafeTimedSerializer(runtime.secret(_SALT), salt=_SALT)
        self._csrf_key = runtime.secret("support-csrf")
        self._decoy: str | None = None  # a hash to check unknown names against

    # Signing in and out

    async def signin(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page(request, "signin")
        form = forms.parsed(await request.body(), fields=_FORM_FIELDS, limit=_FIELD_LIMIT)
        if not self._posted_here(request, form):
            return self._page(request, "refused", status=403)
        name, password = form.get("name", ""), form.get("password", "")
        epoch = await self._admitted(request, name, password)
        if epoch is not None:
            response = RedirectResponse(PREFIX, status_code=303)
            signed = {"agent": name, "epoch": epoch, "sid": secrets.token_urlsafe(16)}
            response.set_cookie(
                SESSION_COOKIE,
                self._sessions.dumps(signed),
                max_age=SESSION_SECONDS,
                path=PREFIX,
                secure=_https(self._runtime, request),
                httponly=True,
                samesite="strict",
            )
            return _no_store(response)
        return self._page(request, "signin", status=401, notice=_FAILED)

    async def _admitted(self, request: Request, name: str, password: str) -> int | None:
        """The agent's session epoch when admitted; the same answer (None), and about
        the same time, for an unknown name, a disabled agent and a wrong password;
        failures counted for the name and for the client."""
        # Names are 64 characters at most: a longer one counts against its first 64.
        subjects = [f"support:agent:{name.casefold()[:64]}", f"support:client:{_client(request)}"]
        database, now = self._runtime.database, self._now()
        async with database.transaction() as session:
            held = [await lockouts.hold(session, subject, now) for subject in subjects]
            agent = await agents.find(session, name) if name else None
        stored = agent.password_hash if agent is not None else await self._decoy_hash()
        right = await self._runtime.vault.verify_password(stored, password)
        admitted = right and agent is not None and agent.disabled_at is None and not any(held)
        async with database.transaction() as session:
            for subject in subjects:
                if admitted:
                    await lockouts.hold(session, subject, now)
                    await lockouts.clear(session, subject, now)
                else:
                    await lockouts.fail(
                        session, subject, now, limit=FAILURE_LIMIT, period=FAILURE_PERIOD
                    )
            if admitted:
                audit.record_agent(session, now, name, "support.signed_in")
        return agent.session_epoch if admitted and agent is not None else None

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self._runtime.vault.hash_password(secrets.token_urlsafe(16))
        return self._decoy

    async def signout(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        form = forms.parsed(await request.body(), fields=_FORM_FIELDS, limit=_FIELD_LIMIT)
        if not self._posted_here(request, form, session):
            return self._page(request, "refused", status=403, session=session)
        await self._audit(session, "support.signed_out")
        response = _to_signin()
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # The pages of a signed-in agent

    async def listing(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        filters = _Filters.read(request)
        found = await transcripts.listing(
            self._runtime.database,
            FLOWS,
            self._now(),
            channel=filters.channel or None,
            since=filters.since_time(),
            state=filters.state or None,
            outcome=transcripts.Outcome(filters.outcome) if filters.outcome else None,
            net_answer_id=filters.net_answer_id or None,
        )
        return self._page(
            request,
            "listing",
            session=session,
            filters=filters,
            conversations=found,
            outcomes=[outcome.value for outcome in transcripts.Outcome],
            when=_japan_time,
        )

    async def conversation(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        read = await self._read(request.path_params["id"])
        if read is None:
            return self._page(request, "missing", status=404, session=session)
        found, steps = read
        entries = await coverage.conversation(self._runtime.database, found.id)
        names = list(dict.fromkeys(entry.flow for entry in entries if entry.flow))
        at = _step(request.query_params.get("step", ""), len(steps))
        shown = entries[: _rows_until(entries, at)] if at else entries
        graphs = [coverage.highlighted(FLOWS[name].flow, shown, FLOWS) for name in names]
        where = {"step": at} if at else {}
        await self._audit(session, "support.viewed", conversation=found.id, **where)
        return self._page(
            request,
            "conversation",
            session=session,
            found=found,
            steps=steps,
            graphs=graphs,
            at=at,
            event_text=transcripts.event_text,
            when=_japan_time,
        )

    async def replay(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        form = forms.parsed(await request.body(), fields=_FORM_FIELDS, limit=_FIELD_LIMIT)
        if not self._posted_here(request, form, session):
            return self._page(request, "refused", status=403, session=session)
        read = await self._read(request.path_params["id"])
        if read is None:
            return self._page(request, "missing", status=404, session=session)
        found, steps = read
        lines = transcripts.export_lines(steps, channel=found.channel, lang=found.lang)
        try:
            report = await replay.replay(_replay_steps(lines), self._runtime.settings)
        except replay.Unreplayable as error:
            await self._audit(session, "support.replayed", conversation=found.id, result="error")
            return self._page(request, "report", session=session, found=found, error=str(error))
        result = "reproduced" if report.reproduced else f"differs at step {report.differs_at}"
        await self._audit(session, "support.replayed", conversation=found.id, result=result)
        return self._page(
            request,
            "report",
            session=session,
            found=found,
            error="",
            report=report,
            side_by_side=""
            if report.reproduced
            else replay.side_by_side(report.recorded, report.now),
        )

    async def export(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        read = await self._read(request.path_params["id"])
        if read is None:
            return self._page(request, "missing", status=404, session=session)
        found, steps = read
        lines = transcripts.export_lines(steps, channel=found.channel, lang=found.lang)
        await self._audit(session, "support.exported", conversation=found.id)
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        response = Response(body, media_type="application/x-ndjson")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="conversation-{found.id}.jsonl"'
        )
        return _no_store(response)

    async def dashboard(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        days = _days(request)
        figures = await dashboard.figures(self._runtime.database, FLOWS, self._now(), days)
        await self._audit(session, "support.viewed_dashboard", days=days)
        return self._page(
            request,
            "dashboard",
            session=session,
            figures=figures,
            outcomes=dashboard.OUTCOMES,
            charts=dashboard.CHARTS,
            days=days,
        )

    async def chart(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        name = request.path_params["name"]
        if name not in dashboard.CHARTS:
            return self._page(request, "missing", status=404, session=session)
        figures = await dashboard.figures(
            self._runtime.database, FLOWS, self._now(), _days(request)
        )
        drawn = await asyncio.to_thread(dashboard.png, figures, name)
        return _no_store(Response(drawn, media_type="image/png"))

    async def static(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        name = request.path_params["name"]
        if name not in _FILES:
            return self._page(request, "missing", status=404, session=session)
        response = FileResponse(_STATIC / name, media_type=_FILES[name])
        response.headers["Cache-Control"] = "private, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def elsewhere(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return _to_signin()
        return self._page(request, "missing", status=404, session=session)

    # Helpers

    def _now(self) -> datetime:
        now: datetime = self._runtime.engine.services.clock()
        return now

    async def _session(self, request: Request) -> _Session | None:
        """The session of a cookie this server signed, unexpired, of an agent who is
        enabled and was not disabled since signing in."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict):
            return None
        name, epoch, sid = data.get("agent"), data.get("epoch"), data.get("sid")
        if not (isinstance(name, str) and isinstance(epoch, int) and isinstance(sid, str)):
            return None
        async with self._runtime.database.transaction() as db:
            agent = await agents.find(db, name)
        if agent is None or agent.disabled_at is not None or agent.session_epoch != epoch:
            return None
        return _Session(name, sid)

    def _posted_here(
        self, request: Request, form: dict[str, str], session: _Session | None = None
    ) -> bool:
        """From a page of this origin, with the session's CSRF token (signed in), or the
        token of the sign-in form's cookie (signing in)."""
        public = self._runtime.settings.public_url
        expected = urlsplit(public) if public else request.url
        if not forms.sent_from(request, expected.scheme, expected.netloc):
            return False
        posted = form.get("csrf", "")
        if session is None:
            return forms.token_holds(request, CSRF_COOKIE, posted)
        return hmac.compare_digest(posted.encode(), self._csrf(session).encode())

    def _csrf(self, session: _Session) -> str:
        """The session's CSRF token: the same on every page (any number of tabs work),
        and only derivable with the server's key from the signed session."""
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    async def _read(
        self, conversation_id: int
    ) -> tuple[transcripts.Listed, list[transcripts.Step]] | None:
        database = self._runtime.database
        found = await transcripts.listing(
            database, FLOWS, self._now(), conversation_id=conversation_id
        )
        if not found:
            return None
        return found[0], await transcripts.steps(database, conversation_id, found[0].lang)

    async def _audit(self, session: _Session, action: str, **detail: Any) -> None:
        async with self._runtime.database.transaction() as db:
            audit.record_agent(db, self._now(), session.agent, action, **detail)

    def _page(
        self,
        request: Request,
        page: str,
        *,
        status: int = 200,
        notice: str = "",
        session: _Session | None = None,
        **context: Any,
    ) -> Response:
        """A console page. Signed in, its forms carry the session's token; otherwise the
        sign-in form's token, kept in a cookie that is set once, not per page."""
        kept = request.cookies.get(CSRF_COOKIE, "")
        if session is not None:
            csrf = self._csrf(session)
        else:
            csrf = kept if len(kept) == _TOKEN_LENGTH else secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(16)
        html = _templates.get_template("support.html").render(
            page=page,
            csrf=csrf,
            nonce=nonce,
            notice=notice,
            prefix=PREFIX,
            agent=session.agent if session else "",
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        if session is None and csrf != kept:
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                path=PREFIX,
                secure=_https(self._runtime, request),
                httponly=True,
                samesite="strict",
            )
        return _no_store(response)


@dataclass(frozen=True)
class _Filters:
    channel: str = ""
    since: str = ""
    state: str = ""
    outcome: str = ""
    net_answer_id: str = ""

    @classmethod
    def read(cls, request: Request) -> "_Filters":
        query = request.query_params
        fields = {
            name: query.get(name, "").strip()[:64]
            for name in ("channel", "since", "state", "outcome", "net_answer_id")
        }
        if fields["outcome"] not in {"", *transcripts.Outcome}:
            fields["outcome"] = ""
        return cls(**fields)

    def since_time(self) -> datetime | None:
        """The start of that day in Japan; None for no day or one not YYYY-MM-DD."""
        try:
            day = datetime.fromisoformat(self.since)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=transcripts.JAPAN)


def _days(request: Request) -> int:
    """The dashboard's period: ``?days=N`` (1 to the maximum), else the default."""
    text = request.query_params.get("days", "")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= dashboard.MAX_DAYS):
        return dashboard.DAYS
    return int(text)


def _step(text: str, count: int) -> int:
    """The step the graph stands at (1-based); 0 for the whole conversation."""
    if not (text.isascii() and text.isdigit()):
        return 0
    return int(text) if 1 <= int(text) <= count else 0


def _rows_until(entries: Sequence[TranscriptEntry], step: int) -> int:
    """How many rows the first ``step`` steps of the timeline hold: a step begins at
    each event of the member (``transcripts.steps``)."""
    starts = [i for i, row in enumerate(entries) if row.direction == "in" or i == 0]
    return starts[step] if step < len(starts) else len(entries)


def _replay_steps(lines: list[dict[str, Any]]) -> list[replay.Step]:
    """The export's rows as the turns replay re-runs (what ``replay.read`` makes of a file)."""
    steps: list[replay.Step] = []
    for line in lines:
        if line["direction"] == "in":
            steps.append(replay.Step(line, []))
        elif steps:
            steps[-1].replies.append(line)
    return steps


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _https(runtime: Runtime, request: Request) -> bool:
    public = runtime.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _japan_time(moment: datetime) -> str:
    return moment.astimezone(transcripts.JAPAN).strftime("%Y-%m-%d %H:%M:%S JST")


def _to_signin() -> Response:
    return _no_store(RedirectResponse(SIGNIN, status_code=303))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response
