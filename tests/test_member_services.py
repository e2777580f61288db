"""A linked member asks for figures: every answer against the sandbox issuer's own
account of the card, by command, keyword, question and button, in both languages."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.gateways import Account
from flows import figures
from flows.cards import parse_card_number
from flows.messages import alt, render
from tests.conftest import Chat, passcode_in
from tests.enroll import REGISTERED, VISA, answers_to_passcode, enroll, to_passcode_again
from tests.test_cli import JsonChat

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


async def _account(chat: Chat) -> Account:
    account = await chat.bot.engine.services.issuer.account(parse_card_number(VISA.number))
    assert account is not None
    return account


@pytest.fixture
async def member(chat: Chat) -> Chat:
    await enroll(chat)
    return chat


@pytest.mark.parametrize("asked", ["/points", "ポイントいくら？", "menu:points"])
async def test_points(member: Chat, asked: str) -> None:
    account = await _account(member)
    await (member.send(choice=asked) if ":" in asked else member.send(asked))
    assert member.keys == ["member.points", "ask.member"]
    assert figures.points(account.points, "ja") in member.texts[0]
    assert figures.yen(account.points_yen, "ja") in member.texts[0]


@pytest.mark.parametrize("asked", ["/payment", "支払日はいつ？", "お支払金額"])
async def test_payment(member: Chat, asked: str) -> None:
    account = await _account(member)
    await member.send(asked)
    assert member.keys == ["member.payment", "ask.member"]
    shown = member.texts[0]
    assert figures.day(account.next_payment_date.isoformat(), "ja") in shown
    assert figures.yen(account.next_payment_amount, "ja") in shown
    assert account.bank_account in shown and "****" in account.bank_account


async def test_limit_and_home(member: Chat) -> None:
    account = await _account(member)
    await member.send("/limit")
    used = account.credit_limit - account.available
    assert all(
        figures.yen(amount, "ja") in member.texts[0]
        for amount in (account.credit_limit, used, account.available)
    )
    await member.send("ホーム")
    assert member.keys[0] == "member.home"
    assert figures.yen(account.next_payment_amount, "ja") in member.texts[0]


@pytest.mark.parametrize("asked", ["/statement 2026-10", "10月の明細", "先月の明細", "明細"])
async def test_a_statement_is_itemised_and_paged(member: Chat, asked: str) -> None:
    account = await _account(member)
    lines = account.statements["2026-10"]
    await member.send(asked)
    assert member.keys == ["member.statement", "ask.member"]
    first = member.texts[0]
    assert "2026年10月" in first and figures.yen(sum(x.amount for x in lines), "ja") in first
    shown = [
        line
        for line in lines
        if line.merchant in first and figures.day(line.day.isoformat(), "ja") in first
    ]
    assert len(shown) == min(5, len(lines))
    offered = [choice.data for choice in member.last.replies[-1].choices]  # type: ignore[union-attr]
    assert ("statement:more" in offered) == (len(lines) > 5)
    if len(lines) > 5:
        await member.send(choice="statement:more")
        assert "（2/2）" in member.texts[0] and lines[-1].merchant in member.texts[0]


async def test_english_statement_and_figures(member: Chat) -> None:
    member.lang = "en"
    account = await _account(member)
    await member.send("October statement")
    assert "October 2026" in member.texts[0]
    await member.send("/payment")
    assert figures.day(account.next_payment_date.isoformat(), "en") in member.texts[0]
    assert figures.yen(account.next_payment_amount, "en").startswith("¥")


async def test_a_month_without_a_statement_says_which_months_there_are(member: Chat) -> None:
    await member.send("/statement 2020-01")
    assert member.keys[0] == "member.statement.none" and "2026-10" in member.texts[0]


async def test_the_menu_and_what_is_not_understood(member: Chat) -> None:
    await member.send("/menu")
    assert member.keys == ["member.menu", "ask.member"]
    await member.send("今日の天気は？")
    assert member.keys == ["member.unknown", "ask.member"]


async def test_a_chat_no_longer_linked_gets_no_figures(chat: Chat) -> None:
    await enroll(chat)
    other = Chat(chat.bot, user="new-phone")  # the card is registered again elsewhere
    await other.send(await to_passcode_again(other))
    assert other.state == "wallet"
    await chat.send("/points")
    assert chat.keys == ["member.not_linked", "ask.card"] and chat.state == "card"


def test_the_sandbox_account_contract(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [_COMMAND, "sandbox", "account", VISA.number, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    account = json.loads(result.stdout)
    assert set(account) == {"payment", "points", "credit", "statements"}
    assert set(account["credit"]) == {"limit", "used", "available"}
    month = account["statements"][max(account["statements"])]
    assert month["total"] == sum(line["amount"] for line in month["lines"])
    assert set(month["lines"][0]) == {"date", "merchant", "amount", "kind"}
    unknown = subprocess.run(
        [_COMMAND, "sandbox", "account", REGISTERED.number[:-1] + "0"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 1 and "no such card" in unknown.stderr


# The usage graph

_SIX_MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]  # 24 Nov 2026


@pytest.mark.parametrize("asked", ["/graph", "利用グラフ", "グラフ", "usage graph", "menu:graph"])
async def test_the_usage_graph_shows_six_months_of_the_issuers_statements(
    member: Chat, asked: str
) -> None:
    account = await _account(member)
    await (member.send(choice=asked) if ":" in asked else member.send(asked))
    assert member.keys == ["member.graph", "ask.member"]
    chart = member.last.replies[0].image  # type: ignore[union-attr]
    assert chart is not None
    expected = [
        (year_month, sum(line.amount for line in account.statements.get(year_month, [])))
        for year_month in _SIX_MONTHS
    ]
    assert list(chart.bars) == expected
    assert expected[0][1] == expected[1][1] == 0  # no statement: a zero bar
    assert all(amount > 0 for _, amount in expected[2:])
    total = sum(amount for _, amount in expected)
    text = member.texts[0]
    assert "2026年5月〜2026年10月" in text
    assert figures.yen(total, "ja") in text and figures.yen(round(total / 6), "ja") in text


async def test_the_usage_graph_in_english_and_its_description(member: Chat) -> None:
    member.lang = "en"
    account = await _account(member)
    await member.send("/graph")
    reply = member.last.replies[0]  # type: ignore[union-attr]
    total = sum(sum(line.amount for line in lines) for lines in account.statements.values())
    assert "May 2026 to October 2026" in render(reply, "en", pictured=True)
    assert f"6-month total: {figures.yen(total, 'en')}" in render(reply, "en", pictured=True)
    description = alt(reply, "en")
    assert description.startswith("Bar chart of your spending by month")
    for year_month in _SIX_MONTHS:
        spent = sum(line.amount for line in account.statements.get(year_month, []))
        assert f"{figures.month(year_month, 'en')} {figures.yen(spent, 'en')}" in description
    # A channel that cannot show pictures says so and gives the figures in words.
    unpictured = render(reply, "en")
    assert "Pictures cannot be shown in this chat" in unpictured and description in unpictured


async def test_the_menu_offers_the_graph(member: Chat) -> None:
    await member.send("/menu")
    assert "/graph" in member.texts[0]
    offered = [choice.data for choice in member.last.replies[-1].choices]  # type: ignore[union-attr]
    assert "menu:graph" in offered


async def test_a_stranger_asking_for_the_graph_gets_no_chart(chat: Chat) -> None:
    await chat.send("/graph")
    assert chat.state == "card" and "member.graph" not in chat.keys
    assert all(reply.image is None for reply in chat.last.replies)  # type: ignore[union-attr]
    await enroll(chat)
    other = Chat(chat.bot, user="new-phone")  # the card is registered again elsewhere
    await other.send(await to_passcode_again(other))
    await chat.send(choice="menu:graph")
    assert chat.keys == ["member.not_linked", "ask.card"]
    assert all(reply.image is None for reply in chat.last.replies)  # type: ignore[union-attr]


def test_the_json_chat_writes_the_graph_as_a_private_png(tmp_path: Path) -> None:
    """`chat --json` after an enrollment: the image path exists, mode 0600 in a 0700
    folder, and the totals are the sandbox account's (`sandbox account --json`)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "NETANSWER_SANDBOX_NOW": "2026-11-24T10:00:00+09:00",
    }
    chat = JsonChat(env, "--user", "grapher")
    for kind, sent in answers_to_passcode():
        otp = chat.text(sent) if kind == "text" else chat.choice(sent)
    chat.text(passcode_in(otp["sandbox"][0]["text"]))
    assert chat.choice("wallet:later")["state"] == "member"
    answer = chat.text("/graph")
    assert chat.close() == 0

    graph, question = answer["replies"]
    assert set(graph) == {"text", "choices", "image"} and "image" not in question
    path = Path(graph["image"]["path"])
    assert path.is_absolute() and path.parent == tmp_path / "data" / "netanswer-bot" / "images"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    account = json.loads(
        subprocess.run(
            [_COMMAND, "sandbox", "account", VISA.number, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    totals = [account["statements"].get(month, {"total": 0})["total"] for month in _SIX_MONTHS]
    assert figures.yen(sum(totals), "ja") in graph["text"]
    assert all(
        f"{figures.month(month, 'ja')} {figures.yen(total, 'ja')}" in graph["image"]["alt"]
        for month, total in zip(_SIX_MONTHS, totals, strict=True)
    )
    assert "画像" not in graph["text"]  # shown as a picture, not said in words
