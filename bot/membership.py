"""The member flow's handlers: figures from the issuer, at the time of the question,
for the member linked to this chat; anyone else is sent to enrollment and shown nothing.
"""

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta

from adapters.gateways import Account, PointsRefused
from bot.handlers import Handler, Handlers
from bot.turn import Turn
from flows.cards import CardNumber, brand_of
from flows.membership import (
    GRAPH_MONTHS,
    MEMBERSHIP,
    STATEMENT_PAGE,
    Button,
    Event,
    State,
    parse_points,
)
from flows.questions import Question, Topic, question_in
from flows.replies import Chart, day, month, month_totals, phrase, points, statement_lines, yen
from storage import members
from storage.database import aware
from storage.models import Member
from storage.vault import CARD_PURPOSE

_PRESSED = {
    Button.HOME: Topic.HOME,
    Button.STATEMENT: Topic.STATEMENT,
    Button.POINTS: Topic.POINTS,
    Button.PAYMENT: Topic.PAYMENT,
    Button.LIMIT: Topic.LIMIT,
    Button.GRAPH: Topic.GRAPH,
    Button.MENU: Topic.MENU,
    Button.APPLY: Topic.APPLY,
    Button.WALLET: Topic.WALLET,
    Button.LANGUAGE: Topic.LANGUAGE,
    Button.UNLINK: Topic.UNLINK,
}
_REQUESTS = {Topic.LANGUAGE: Event.LANGUAGE, Topic.UNLINK: Event.UNLINK}
_LANGUAGES = {Button.JAPANESE: "ja", Button.ENGLISH: "en"}

#: A link not used for this long asks for a passcode before it shows a figure again.
RECHECK_AFTER = timedelta(days=90)

MemberHandler = Callable[[Turn, str, Member], Awaitable[str | None]]


def _linked_only(handler: MemberHandler) -> Handler:
    """Every answer of the flow is for the member linked to this chat now; a chat
    unlinked meanwhile (re-registered elsewhere) is shown nothing and sent to enrollment.
    A link unused for :data:`RECHECK_AFTER` shows nothing until a passcode proves it
    again (the sign-in flow asks); otherwise this turn counts as the link's last use."""

    async def handle(turn: Turn, answer: str) -> str | None:
        link = await members.chat_link(turn.session, turn.channel, turn.user_id)
        member = await turn.session.get(Member, link.member_id) if link else None
        if link is None or member is None:
            turn.slots.clear()
            turn.say("member.not_linked")
            return Event.UNLINKED
        if turn.now - aware(link.last_used_at or link.linked_at) >= RECHECK_AFTER:
            turn.slots.clear()
            turn.slots["member_id"] = member.id
            return Event.RECHECK
        link.last_used_at = turn.now
        return await handler(turn, answer, member)

    return handle


async def home(turn: Turn, answer: str, member: Member) -> str | None:
    if answer == Button.MORE:
        await _next_page(turn, member)
        return None
    topic = _PRESSED.get(Button(answer)) if answer in _PRESSED else None
    question = Question(topic) if topic else question_in(answer, turn.today())
    if question is None:
        turn.say("member.unknown")
        return None
    if question.topic is Topic.MENU:
        turn.say("member.menu")
        return None
    if question.topic in _REQUESTS:
        return _REQUESTS[question.topic]
    if question.topic is Topic.WALLET:
        turn.say("wallet.add", card=member.card_masked)
        member.wallet_later = False
        turn.slots.pop("wallet_later", None)
        return None
    account = await _account(turn, member)
    if question.topic is Topic.APPLY:
        return _offer_points(turn, account)
    if question.topic is Topic.STATEMENT:
        _statement(turn, account, question.month, page=1)
    elif question.topic is Topic.GRAPH:
        _graph(turn, account)
    else:
        _figures(turn, account, question.topic)
    return None


def _figures(turn: Turn, account: Account, topic: Topic) -> None:
    if topic is Topic.POINTS:
        turn.say("member.points", points=points(account.points), worth=yen(account.points_yen))
    elif topic is Topic.PAYMENT:
        turn.say(
            "member.payment",
            date=day(account.next_payment_date),
            amount=yen(account.next_payment_amount),
            bank=account.bank_account,
        )
    elif topic is Topic.LIMIT:
        turn.say(
            "member.limit",
            limit=yen(account.credit_limit),
            used=yen(account.credit_limit - account.available),
            available=yen(account.available),
        )
    else:
        turn.say(
            "member.home",
            date=day(account.next_payment_date),
            amount=yen(account.next_payment_amount),
            points=points(account.points),
            worth=yen(account.points_yen),
        )


def _statement(turn: Turn, account: Account, asked: str | None, *, page: int) -> None:
    """One page of a month's statement (the latest month unless another was asked)."""
    year_month = asked or max(account.statements, default="")
    lines = account.statements.get(year_month)
    if not lines:
        turn.slots.pop("statement", None)
        kept = "、".join(sorted(account.statements, reverse=True))
        turn.say("member.statement.none", month=month(year_month or "2000-01"), months=kept)
        return
    pages = math.ceil(len(lines) / STATEMENT_PAGE)
    shown = lines[(page - 1) * STATEMENT_PAGE : page * STATEMENT_PAGE]
    turn.slots["statement"] = {"month": year_month, "page": page, "pages": pages}
    turn.say(
        "member.statement",
        month=month(year_month),
        page=page,
        pages=pages,
        lines=statement_lines(
            [(line.day, line.merchant, line.amount, f"value.kind.{line.kind}") for line in shown]
        ),
        total=yen(sum(line.amount for line in lines)),
    )


def _graph(turn: Turn, account: Account) -> None:
    """What the member spent in each of the last months before this one, as a bar chart:
    a month without a statement is a zero bar."""
    today = turn.today()
    index = today.year * 12 + today.month - 1
    months = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - GRAPH_MONTHS, index)]
    bars = tuple(
        (year_month, sum(line.amount for line in account.statements.get(year_month, ())))
        for year_month in months
    )
    total = sum(amount for _, amount in bars)
    turn.say(
        "member.graph",
        image=Chart(bars, "member.graph.alt"),
        first=month(months[0]),
        last=month(months[-1]),
        total=yen(total),
        average=yen(round(total / GRAPH_MONTHS)),
        bars=month_totals(bars),
    )


async def _next_page(turn: Turn, member: Member) -> None:
    shown = turn.slots.get("statement")
    if not shown or shown["page"] >= shown["pages"]:
        turn.say("member.statement.end")
        return
    account = await _account(turn, member)
    _statement(turn, account, shown["month"], page=shown["page"] + 1)


def _card(turn: Turn, member: Member) -> CardNumber:
    digits = turn.services.vault.decrypt(member.card_token, CARD_PURPOSE)
    brand = brand_of(digits)
    if brand is None:  # only cards with a brand are ever stored
        raise ValueError("the member's card has no brand")
    return CardNumber(digits, brand)


async def _account(turn: Turn, member: Member) -> Account:
    account = await turn.services.issuer.account(_card(turn, member))
    if account is None:
        raise LookupError("the issuer no longer knows the member's card")
    return account


def _offer_points(turn: Turn, account: Account) -> str | None:
    usable = account.usable_points
    if usable == 0:
        balance, bill = points(account.points), yen(account.next_payment_amount)
        turn.say("points.none", points=balance, amount=bill)
        return None
    turn.slots["apply"] = {
        # Names this request at the issuer: a retry after a failed commit applies once.
        "request": f"{turn.conversation_id}-{turn.services.rng.getrandbits(64):016x}",
        "usable": usable,
        "rate": account.point_rate,
        "date": account.next_payment_date.isoformat(),
        "bill": account.next_payment_amount,
    }
    return Event.APPLY


async def points_amount(turn: Turn, answer: str, member: Member) -> str | None:
    apply = turn.slots["apply"]
    if answer == Button.POINTS_CANCEL:
        turn.say("points.kept")
        return Event.HOME
    usable = apply["usable"]
    apply["points"] = usable if answer == Button.POINTS_ALL else parse_points(answer, usable)
    return Event.NEXT


async def points_confirm(turn: Turn, answer: str, member: Member) -> str | None:
    apply = turn.slots["apply"]
    if answer == Button.POINTS_CANCEL:
        turn.say("points.kept")
        return Event.HOME
    card = _card(turn, member)
    try:
        account = await turn.services.issuer.apply_points(
            card, apply["points"], request=apply["request"]
        )
    except PointsRefused:  # the balance or the bill changed since the question
        turn.say("points.refused")
        return Event.HOME
    turn.say(
        "points.applied",
        points=points(apply["points"]),
        worth=yen(apply["points"] * apply["rate"]),
        balance=points(account.points),
        date=day(account.next_payment_date),
        amount=yen(account.next_payment_amount),
    )
    return Event.HOME


async def language(turn: Turn, answer: str, member: Member) -> str | None:
    chosen = _LANGUAGES[Button(answer)]
    await members.choose_language(turn.session, member, chosen)
    turn.lang = chosen
    turn.say("language.chosen", language=phrase(f"language.{chosen}"))
    return Event.HOME


async def unlink(turn: Turn, answer: str, member: Member) -> str | None:
    if answer == Button.UNLINK_CANCEL:
        turn.say("unlink.kept")
        return Event.HOME
    await members.unlink(turn.session, turn.channel, turn.user_id)
    turn.slots.clear()
    turn.say("unlinked", netid=member.net_answer_id)
    return Event.UNLINKED


async def _enter(turn: Turn) -> None:
    """What the member's questions show: the linked card and Net Answer ID, the wallet
    offer if it was put off; and the member's chosen language, now this chat's too."""
    member = await members.linked(turn.session, turn.channel, turn.user_id)
    if member is None:
        return
    turn.slots.update(netid=member.net_answer_id, card_masked=member.card_masked)
    if member.wallet_later:
        turn.slots["wallet_later"] = True
    if member.lang is not None and member.lang != turn.lang:
        await members.choose_language(turn.session, member, member.lang)
        turn.lang = member.lang


HANDLERS = Handlers(
    MEMBERSHIP,
    {
        State.HOME: _linked_only(home),
        State.POINTS: _linked_only(points_amount),
        State.POINTS_CONFIRM: _linked_only(points_confirm),
        State.LANGUAGE: _linked_only(language),
        State.UNLINK: _linked_only(unlink),
    },
    enter=_enter,
)
