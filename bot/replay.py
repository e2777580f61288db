"""Replay: an exported transcript re-run against the current flows, in a sandbox of its
own, to show whether they still answer the member as the record says.

Each attempt is a fresh temporary SQLite database and data folder (the real database
is never opened), the sandbox issuer, a clock standing at each recorded turn's time
and seeded randomness. The member's recorded events are sent again, every placeholder
turned into a sandbox value of its class (:class:`_Values`), and each turn's recorded
rows (event, states, replies) are compared with the rows the replay recorded itself,
which went through the same redaction.

A card placeholder names a brand and a length, which several demo cards may share:
the cards that fit what the record says of them (the security code's length, a
refusal for a corporate or Club-On card) are tried in the order of the demo card
table, the first choice kept where the replay goes on to reproduce, and another tried
from the card placeholder at or before the step that differed.
"""

import asyncio
import functools
import itertools
import json
import random
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.channels.channel import ENTRY_CHOICE, Entered, Inbound, Kind
from adapters.gateways import CardKind
from adapters.sandbox_issuer import DEMO_CARDS, DemoCard
from bot import transcripts
from bot.config import Settings
from bot.handlers import Flows
from bot.registry import CHANNELS, FLOWS
from bot.runtime import Runtime, start
from flows.cards import brand_of, luhn_ok, parse_card_number, parse_expiry, parse_security_code
from flows.emails import parse_emails
from flows.messages import CATALOG, DEFAULT_LANG
from flows.netids import issue_net_answer_id, parse_net_answer_id
from flows.passwords import check_password, strength
from flows.personal import Personal
from flows.problems import Invalid, Problem
from flows.replies import phrase
from storage import sandbox

SEED = 7  # the replay's randomness: issued IDs, passcodes, point requests
_ATTEMPTS = 16  # card choices tried at most
_USER = "replay"
_PLACEHOLDER = re.compile("⟨([^⟩]*)⟩")
_PASSCODE = re.compile(r"\b(\d{6})\b")
#: Compared on every row; the time is the replay's own clock, the version may change.
_COMPARED = ("direction", "text", "choice", "event", "flow", "state_before", "state_after")
_REPLY_COMPARED = ("key", "params", "choices")
_WRONG_PASSWORD = "Replay-Wrong-7"  # noqa: S105 (never a demo password)
_SIGNIN_ID = "⟨netid:unchecked⟩"  # what a sign-in's ID step records
_DEMO_ID = next(card.net_answer_id for card in DEMO_CARDS if card.net_answer_id)
_UNKNOWN_ID = "replaynobody7"  # no member's: any sign-in with it is refused
#: A refused secret's placeholder (``⟨cvc:invalid⟩``) and the problem keys that say why.
_FAMILY = {"card": "card.", "cvc": "code.", "otp": "otp.", "pin": "pin.", "password": "password."}


class Unreadable(Exception):
    """The file is not an export of `transcripts export`."""


class Unreplayable(Exception):
    """A recorded event has no sandbox value: ``cannot replay step N: ⟨...⟩``."""


@dataclass(frozen=True)
class Step:
    """A recorded turn: the member's event row and the reply rows after it."""

    event: dict[str, Any]
    replies: list[dict[str, Any]]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self.event, *self.replies]


@dataclass
class Report:
    steps: int
    differs_at: int | None = None  # 1-based; None: the whole transcript reproduces
    recorded: list[dict[str, Any]] = field(default_factory=list)
    now: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1

    @property
    def reproduced(self) -> bool:
        return self.differs_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "reproduced": self.reproduced,
            "steps": self.steps,
            "differs_at": self.differs_at,
            "recorded": self.recorded,
            "now": self.now,
            "attempts": self.attempts,
        }


def read(path: Path) -> list[Step]:
    """The turns of an exported transcript (JSON Lines, `transcripts export`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise Unreadable(f"cannot read {path}: {type(error).__name__}") from None
    steps: list[Step] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise Unreadable(f"{path}: line {number} is not JSON") from None
        if not isinstance(row, dict) or row.get("direction") not in ("in", "out"):
            raise Unreadable(f"{path}: line {number} is not a transcript row")
        if row["direction"] == "in":
            steps.append(Step(row, []))
        elif not steps or "key" not in row:
            raise Unreadable(f"{path}: line {number} is a reply without an event")
        else:
            steps[-1].replies.append(row)
    if not steps:
        raise Unreadable(f"{path}: no transcript rows")
    return steps


async def replay(steps: Sequence[Step], settings: Settings, *, flows: Flows = FLOWS) -> Report:
    """Re-run ``steps`` against ``flows``; ``settings`` give everything but the storage
    (rate limit, language list), which each attempt makes afresh."""
    points = _card_points(steps)
    choice = [0] * len(points)
    best: Report | None = None
    for attempt in range(1, _ATTEMPTS + 1):
        cards = [
            candidates[at] if candidates else None
            for (_, candidates), at in zip(points, choice, strict=True)
        ]
        report = await _attempt(steps, settings, flows, cards)
        report.attempts = attempt
        failed = report.differs_at
        if failed is None:
            return report
        if best is None or (best.differs_at or 0) < failed:
            best = report
        movable = [
            index
            for index, (step, candidates) in enumerate(points)
            if step < failed and choice[index] + 1 < len(candidates)
        ]
        if not movable:
            break
        choice[movable[-1]] += 1
        choice[movable[-1] + 1 :] = [0] * (len(choice) - movable[-1] - 1)
    best = best or report
    best.attempts = attempt
    return best


def _card_points(steps: Sequence[Step]) -> list[tuple[int, list[DemoCard]]]:
    """Each card placeholder the member typed (its step, 0-based) and the demo cards that
    fit it, best first."""
    points = []
    for index, step in enumerate(steps):
        for kind in _PLACEHOLDER.findall(step.event.get("text") or ""):
            parts = kind.split(":")
            if parts[0] == "card" and len(parts) == 4:
                points.append((index, _fitting(parts[1], int(parts[2]), steps[index + 1 :])))
    return points


def _fitting(brand: str, length: int, later: Sequence[Step]) -> list[DemoCard]:
    cards = [
        card
        for card in DEMO_CARDS
        if len(card.number) == length and str(brand_of(card.number)) == brand
    ]
    check = next((step for step in later if _cvc(step) is not None), None)
    if check is None:
        return cards
    code_length, verdict = _cvc(check) or (0, "")
    said = {reply["key"] for reply in check.replies}
    if verdict == "match":
        cards = [card for card in cards if len(card.code) == code_length]
        kind = (
            CardKind.CORPORATE
            if "eligibility.corporate" in said
            else CardKind.CLUB_ON
            if "eligibility.clubon" in said
            else CardKind.PERSONAL
        )
        cards = [card for card in cards if card.kind is kind]
    # Cards without an ID first: the already-registered one leads to re-registration.
    return sorted(cards, key=lambda card: card.registered)


def _cvc(step: Step) -> tuple[int, str] | None:
    found = re.fullmatch("⟨cvc:([0-9]+):([a-z]+)⟩", step.event.get("text") or "")
    return (int(found[1]), found[2]) if found else None


async def _attempt(
    steps: Sequence[Step], settings: Settings, flows: Flows, cards: list[DemoCard | None]
) -> Report:
    with tempfile.TemporaryDirectory(prefix="netanswer-replay-") as folder:
        clock = _Clock(_at(steps[0]))
        bot = await asyncio.to_thread(
            start,
            _sandbox(settings, Path(folder)),
            clock=clock,
            rng=random.Random(SEED),  # noqa: S311
        )
        bot.engine.flows = flows
        for kind in CHANNELS:  # the platform's link tokens, as the recording server had
            if kind.capabilities.links_accounts:
                bot.engine.services.link_tokens[kind.name] = _link_token
        if any(
            ENTRY_CHOICE in reply.get("choices", []) for step in steps for reply in step.replies
        ):
            # The recording server offered the secure-entry page: so does the replay.
            bot.engine.services.entry_channels.add(steps[0].event.get("channel") or "console")
        try:
            return await _run(bot, clock, steps, iter(cards))
        finally:
            await bot.close()


async def _link_token(user_id: str) -> str:
    """Stands in for the platform's link token: the replay links no account."""
    return f"replay-{user_id[-4:]}"


def _sandbox(settings: Settings, folder: Path) -> Settings:
    return settings.with_env(
        PUBLIC_URL="https://replay.invalid",
        DATABASE_URL=f"sqlite:///{folder / 'replay.sqlite3'}",
        XDG_DATA_HOME=str(folder / "data"),
        NETANSWER_KEY_FILE=str(folder / "keys.json"),
        NETANSWER_CHECK_FLOOR_MS="0",
        NETANSWER_ORDER_WINDOW_MS="0",
        VAULT_KEYS=None,
        VAULT_INDEX_KEY=None,
        SMTP_URL=None,
        MAIL_FROM=None,
        NETANSWER_ENV=None,
        NETANSWER_SANDBOX_NOW=None,
    )


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _run(
    bot: Runtime, clock: _Clock, steps: Sequence[Step], cards: Iterator[DemoCard | None]
) -> Report:
    channel = steps[0].event.get("channel") or "console"
    lang = steps[0].event.get("lang") or _language(steps)
    values = _Values(bot, cards, clock)
    conversation = 0
    for number, step in enumerate(steps, 1):
        clock.now = _at(step)
        following = steps[number] if number < len(steps) else None
        inbound, sent_as = values.inbound(number, step, following, channel, lang)
        outcome = await bot.engine.handle(inbound)
        conversation = outcome.conversation_id or conversation
        await values.observe(outcome.replies, conversation)
        found = await transcripts.steps(bot.database, conversation, lang)
        now = transcripts.export_lines(found[-1:])
        if sent_as is not None and now and now[0]["direction"] == "in":
            now[0]["text"] = step.event.get("text")  # the ID this replay issued stands in
        if _shown(step.rows) != _shown(now):
            return Report(len(steps), number, step.rows, now)
    return Report(len(steps))


def side_by_side(recorded: Sequence[Mapping[str, Any]], now: Sequence[Mapping[str, Any]]) -> str:
    """A turn as recorded and as replayed now, row by row; ``≠`` marks rows that differ."""
    left = [_line(row) for row in recorded]
    right = [_line(row) for row in now]
    width = max([_width("recorded"), *(_width(line) for line in left)])
    lines = [f"  recorded{' ' * (width - _width('recorded'))} | now"]
    for index, (was, is_) in enumerate(itertools.zip_longest(left, right, fillvalue="")):
        same = index < min(len(recorded), len(now)) and _shown(recorded[index : index + 1]) == (
            _shown(now[index : index + 1])
        )
        lines.append(f"{' ' if same else '≠'} {was}{' ' * (width - _width(was))} | {is_}")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Columns on a terminal: Japanese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _line(row: Mapping[str, Any]) -> str:
    where = f"[{row.get('state_before')} -> {row.get('state_after')}]"
    if row.get("direction") == "in":
        said = (
            f"[{row['choice']}]" if "choice" in row else row.get("text") or f"({row.get('event')})"
        )
        return f"in  {where} {said}"
    params = json.dumps(row.get("params", {}), ensure_ascii=False, sort_keys=True)
    text = str(row.get("text", "")).replace("\n", " ")
    return f"out {row.get('key')} {params} {text}"


def _shown(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    compared = _COMPARED + _REPLY_COMPARED
    return [{name: row.get(name) for name in compared} for row in rows]


def _at(step: Step) -> datetime:
    try:
        return datetime.fromisoformat(step.event["at"])
    except (KeyError, TypeError, ValueError):
        raise Unreadable("a row has no time") from None


def _language(steps: Sequence[Step]) -> str:
    """The language the record's replies are written in."""
    for step in steps:
        for reply in step.replies:
            for lang in CATALOG:
                if transcripts.reply_text(reply, lang) == reply.get("text"):
                    return lang
    return DEFAULT_LANG


class _Values:
    """Sandbox values for the record's placeholders, following the replay: the card
    chosen for the last card placeholder, the passcode the sandbox last sent, the
    password and Net Answer ID this replay's enrollment chose or was issued."""

    def __init__(self, bot: Runtime, cards: Iterator[DemoCard | None], clock: _Clock) -> None:
        self.bot = bot
        self.cards = cards
        self.clock = clock
        self.card: DemoCard | None = None
        self.passcode: str | None = None
        self.password: str | None = None
        self.netid: str | None = None
        self.signing_in: str | None = None  # the ID typed before a sign-in password
        self.seen = 0  # the last sandbox message read

    def inbound(
        self, number: int, step: Step, following: Step | None, channel: str, lang: str
    ) -> tuple[Inbound, str | None]:
        """The event to send, and the ID sent in place of the recorded one (if any)."""
        event = step.event
        where = functools.partial(Inbound, channel, _USER, f"replay-{number}", lang=lang)
        if "choice" in event:
            return where(choice=str(event["choice"])), None
        kind = event.get("event")
        if event.get("text") is None:
            kinds = {"opened": Kind.OPENED, "left": Kind.LEFT, "unsent": Kind.UNSENT}
            if kind in kinds:
                return where(kind=kinds[kind]), None
            if kind == "throttled":  # its text is not kept, and it was not applied
                return where(text="-"), None
            return where(), None  # a sticker, a photo
        text = str(event["text"])
        accepted = following is not None and following.event.get("text") == "⟨password:accepted⟩"
        if text == _SIGNIN_ID:  # the ID before a sign-in's password
            self.signing_in = (self.netid or _DEMO_ID) if accepted else _UNKNOWN_ID
            return where(text=self.signing_in), None
        if accepted:  # recorded in clear, before the typed ID became a placeholder
            self.signing_in = text
            if not any(card.net_answer_id == text for card in DEMO_CARDS) and self.netid:
                self.signing_in = self.netid
                return where(text=self.netid), self.netid
        if event.get("entry"):  # typed into the secure-entry page, for that step only
            page = Entered(f"{event['flow']}:{event['state_before']}", event.get("entry_next"))
            return where(text=self._filled(number, step, text), entry=page), None
        return where(text=self._filled(number, step, text)), None

    async def observe(self, replies: Sequence[Any], conversation: int) -> None:
        for reply in replies:
            if isinstance(reply.params.get("netid"), str):
                self.netid = reply.params["netid"]
        async with self.bot.database.transaction() as session:
            delivered = await sandbox.read(
                session, self.bot.vault, after_id=self.seen, conversation_id=conversation
            )
        if delivered:
            self.seen = delivered[-1].id
            found = _PASSCODE.search(delivered[-1].text)
            self.passcode = found[1] if found else self.passcode

    def _filled(self, number: int, step: Step, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            found = self._value(match[1], step)
            if found is None:
                raise Unreplayable(f"cannot replay step {number}: {match[0]}")
            return found

        return _PLACEHOLDER.sub(value, text)

    def _value(self, placeholder: str, step: Step) -> str | None:
        kind, _, detail = placeholder.partition(":")
        if detail == "invalid" and kind in _FAMILY:
            family = _FAMILY[kind]
            return self._refused([r for r in step.replies if r["key"].startswith(family)])
        if placeholder == "invalid:netid.same_as_password":
            return self.password
        if kind == "invalid":
            keys = detail.split("+")
            return self._refused([r for r in step.replies if r["key"] in keys])
        handlers = {
            "card": self._card,
            "expiry": self._expiry,
            "cvc": self._cvc,
            "otp": self._otp,
            "pin": self._pin,
            "password": self._password,
            "netid": self._netid,
            "text": self._text,
            "digits": self._digits,
        }
        handle = handlers.get(kind)
        return handle(detail.split(":"), step) if handle else None

    def _card(self, parts: list[str], step: Step) -> str | None:
        if len(parts) != 3 or parts[2] != "luhn-ok":
            return None
        card = next(self.cards, None)
        if card is None or str(brand_of(card.number)) != parts[0]:
            return _luhn_number(parts[0], int(parts[1]))  # no demo card of this class
        self.card = card
        return card.number

    def _expiry(self, parts: list[str], step: Step) -> str | None:
        card = self.card
        return f"{card.expiry.month:02d}/{card.expiry.year % 100:02d}" if card else None

    def _cvc(self, parts: list[str], step: Step) -> str | None:
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        length, verdict = int(parts[0]), parts[1]
        right = self.card.code if self.card else None
        if verdict != "mismatch" and right and len(right) == length:
            return right
        return _other_digits(right or "", length)

    def _otp(self, parts: list[str], step: Step) -> str | None:
        if parts[0] in ("right", "expired"):
            return self.passcode
        return _other_digits(self.passcode or "", 6) if parts[0] in ("wrong", "locked") else None

    def _pin(self, parts: list[str], step: Step) -> str | None:
        right = self.card.pin if self.card else None
        if parts[0] == "right":
            return right
        return _other_digits(right or "", 4) if parts[0] in ("wrong", "locked") else None

    def _password(self, parts: list[str], step: Step) -> str | None:
        verdict = parts[-1]
        if verdict == "ok" and parts[0].isdigit():
            self.password = self._new_password(int(parts[0]), step)
            return self.password
        if verdict == "match":
            return self.password
        if verdict in ("mismatch", "refused", "unchecked"):
            return _WRONG_PASSWORD
        if verdict == "accepted":
            member = next((c for c in DEMO_CARDS if c.net_answer_id == self.signing_in), None)
            if member is None:
                return self.password
            self.card = member
            return member.password
        return None

    def _netid(self, parts: list[str], step: Step) -> str | None:
        if parts[0] == "ok":  # a new ID the enrollment took: one valid for the holder
            pick = random.Random(SEED).choice  # noqa: S311 (a sandbox value)
            return issue_net_answer_id(self._personal(), pick)
        return "- -" if parts[0] == "format" else None  # with spaces: no sign-in ID

    def _text(self, parts: list[str], step: Step) -> str | None:
        return "-" * int(parts[0]) if parts[0].isdigit() else None

    def _digits(self, parts: list[str], step: Step) -> str | None:
        if not parts[0].isdigit():
            return None
        digits = "1" * int(parts[0])
        return digits[:-1] + "2" if luhn_ok(digits) else digits

    def _new_password(self, length: int, step: Step) -> str | None:
        """A valid password of ``length`` for the card's holder, as strong as the record
        says the member's was."""
        personal = self._personal()
        said = next((r for r in step.replies if r["key"] == "password.strength"), None)
        for candidate in _passwords(length):
            try:
                check_password(candidate, personal)
            except Invalid:
                continue
            rated = phrase(f"value.strength.{strength(candidate, personal)}")
            if said is None or said.get("params", {}).get("strength") == rated:
                return candidate
        return None

    def _refused(self, recorded: list[dict[str, Any]]) -> str | None:
        """An input the current validators refuse with exactly the recorded problems."""
        wanted = [(r["key"], r.get("params", {})) for r in recorded]
        if not wanted:
            return None
        validate, typed = self._refusals(wanted[0][0].partition(".")[0])
        for candidate in typed:
            try:
                validate(candidate)
            except Invalid as invalid:
                if [(p.key, dict(p.params)) for p in invalid.problems] == wanted:
                    return candidate
        return None

    def _refusals(self, family: str) -> tuple[Callable[[str], object], list[str]]:
        """A validator of ``family`` (a problem key's first part) and inputs to try on it."""
        card = self.card or DEMO_CARDS[0]
        personal = self._personal()
        today = self.clock.now.date()
        pieces = [fragment for _, fragment in personal.fragments()]
        if family == "card":
            numbers = [demo.number for demo in DEMO_CARDS]
            typed = ["", "abcd", "9" * 16, card.number[:-1] + str((int(card.number[-1]) + 1) % 10)]
            typed += [n[:size] for n in numbers for size in range(1, 20)]
            typed += [n + "1" * extra for n in numbers for extra in range(1, 5)]
            return parse_card_number, typed
        if family == "expiry":
            past = f"01/{today.year % 100 - 1:02d}"
            return (lambda text: parse_expiry(text, today)), ["", "december", "13/29", past]
        if family == "code":
            brand = parse_card_number(card.number).brand
            typed = ["", "12a", "1", "12", "123", "1234", "12345"]
            return (lambda text: parse_security_code(text, brand)), typed
        if family in ("otp", "pin"):
            return _format(6 if family == "otp" else 4, f"{family}.format"), ["12", "abcdef"]
        if family == "password":
            typed = ["", "Ab1", "abcdefgh", "12345678", "Abcd 1234", "Ａｂｃｄ１２３４", "abc"]
            typed += [f"Ab{piece}" for piece in pieces] + ["A" * 17 + "1"]
            return (lambda text: check_password(text, personal)), typed
        if family == "email":
            typed = ["", "not-an-address", "a@example.com,a@example.com", "a@example.com,x"]
            typed += [",".join(f"m{i}@example.com" for i in range(count)) for count in (3, 4, 5)]
            return parse_emails, typed
        if family == "netid":
            typed = ["ab1", "abc!1234567", "a" * 17, _WRONG_PASSWORD]
            typed += [f"id{piece}" for piece in pieces]
            return (lambda text: parse_net_answer_id(text, personal, [])), typed
        return _format(0, ""), []  # the member's balance decides (points): not known here

    def _personal(self) -> Personal:
        card = self.card or DEMO_CARDS[0]
        return Personal.of(card.birth_date, card.phone)


def _format(length: int, key: str) -> Callable[[str], None]:
    def validate(text: str) -> None:
        if not (len(text) == length and text.isascii() and text.isdigit()):
            raise Invalid(Problem(key))

    return validate


def _other_digits(right: str, length: int) -> str:
    """``length`` digits that are not ``right``."""
    if len(right) == length:
        return "".join(str((int(d) + 1) % 10) for d in right)
    return "".join(str((i + 3) % 10) for i in range(length))


def _luhn_number(brand: str, length: int) -> str | None:
    """A Luhn-valid number of ``length`` digits for a brand no demo card has."""
    if not 14 <= length <= 19:
        return None
    prefix = {"visa": "4", "mastercard": "51", "jcb": "35", "amex": "37", "diners": "36"}
    body = (prefix.get(brand, "9") + "0" * length)[: length - 1]
    for last in "0123456789":
        if luhn_ok(body + last) and str(brand_of(body + last) or "unknown") == brand:
            return body + last
    return None


def _passwords(length: int) -> Iterator[str]:
    """Candidates of ``length`` from weak to strong (more and more random characters
    after a repeated one), the same every run."""
    rng = random.Random(length)  # noqa: S311 (sandbox values, the same every replay)
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-=@_"
    for _ in range(3):
        for random_part in range(length - 1):
            tail = "".join(rng.choice(alphabet) for _ in range(random_part))
            yield ("a" * length + tail)[-(length - 1) :] + "7"
