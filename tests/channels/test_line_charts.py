"""The usage graph on LINE: an image message whose address on this server is signed,
expires and shows only the chart of the reply it names; LINE's stand-in checks the
messages, and the address is fetched from the served app as LINE would."""

import asyncio
import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from adapters.channels.channel import Outgoing
from adapters.channels.line import IMAGE_LINK_LIFETIME, Line, LineSettings
from bot import charts
from bot.dispatcher import queue
from bot.engine import OUTBOX_MEMORY
from bot.runtime import Runtime
from flows.messages import render
from flows.replies import Chart, Reply
from storage import conversations, sandbox
from storage.models import OutboxMessage
from tests.channels.conftest import LINE_SECRET, PUBLIC_URL, Friend
from tests.channels.line_stand_in import LineStandIn
from tests.conftest import Clock
from tests.enroll import answers_to_passcode

PNG = b"\x89PNG\r\n\x1a\n"
charts_png = charts.png
_ADDRESS = re.compile(r"/images/line/(\d+)/(\d+)/([A-Za-z0-9_-]+)\.png")


async def _enroll(friend: Friend, runtime: Runtime) -> None:
    await friend.post(friend.follow())
    for kind, sent in answers_to_passcode():
        await (friend.say(sent) if kind == "text" else friend.choose(sent))
    async with runtime.database.transaction() as session:
        delivered = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", delivered[-1].text)
    assert found
    await friend.say(found[1])
    await friend.choose("wallet:later")


async def _rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.database.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


@pytest.fixture
async def graph(friend: Friend, line_runtime: Runtime, line_stand_in: LineStandIn) -> str:
    """A linked friend asked for the graph: the path of the image LINE was sent."""
    await _enroll(friend, line_runtime)
    before = len(line_stand_in.delivered)
    await friend.say("利用グラフ")
    image, text, question = line_stand_in.delivered[before:]
    assert image["type"] == "image" and image["originalContentUrl"] == image["previewImageUrl"]
    assert image["originalContentUrl"].startswith(f"{PUBLIC_URL}/images/line/")
    assert (text["type"], question["type"]) == ("text", "text")
    assert "6か月の合計" in text["text"] and "画像" not in text["text"]  # shown, not described
    assert question["quickReply"]["items"]  # the buttons come with the question, last
    return urlsplit(image["originalContentUrl"]).path


async def test_the_image_address_serves_the_members_chart(
    graph: str, line_client: httpx.AsyncClient, line_runtime: Runtime
) -> None:
    answer = await line_client.get(graph)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    lifetime = int(IMAGE_LINK_LIFETIME.total_seconds())
    assert answer.headers["cache-control"] == f"private, max-age={lifetime}"
    assert answer.content.startswith(PNG)
    reply_id = int(_parts(graph)[0])
    chart = next(row for row in await _rows(line_runtime) if row.id == reply_id)
    assert chart.payload["key"] == "member.graph" and chart.status == "sent"


async def test_fetching_the_chart_again_does_not_draw_it_again(
    graph: str, line_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []

    def counted(chart: Chart, lang: str) -> bytes:
        drawn.append(lang)
        return charts_png(chart, lang)

    monkeypatch.setattr(charts, "png", counted)
    together = await asyncio.gather(line_client.get(graph), line_client.get(graph))
    again = await line_client.get(graph)
    assert [answer.status_code for answer in [*together, again]] == [200, 200, 200]
    assert together[0].content == together[1].content == again.content
    assert again.content.startswith(PNG)
    assert drawn == ["ja"]


async def test_the_address_stops_working_once_the_member_unlinks(
    graph: str, line_client: httpx.AsyncClient, friend: Friend
) -> None:
    assert (await line_client.get(graph)).status_code == 200  # drawn and kept
    await friend.say("/unlink")
    await friend.choose("unlink:confirm")
    gone = await line_client.get(graph)
    assert (gone.status_code, gone.content) == (404, b"")


async def test_the_address_expires(
    graph: str, line_client: httpx.AsyncClient, clock: Clock
) -> None:
    clock.advance(seconds=IMAGE_LINK_LIFETIME.total_seconds() - 1)
    assert (await line_client.get(graph)).status_code == 200
    clock.advance(seconds=1)
    expired = await line_client.get(graph)
    assert (expired.status_code, expired.content) == (404, b"")


async def test_the_outbox_keeps_the_chart_while_its_address_works(
    graph: str, line_client: httpx.AsyncClient, line_runtime: Runtime, clock: Clock
) -> None:
    reply_id = int(_parts(graph)[0])
    clock.advance(seconds=IMAGE_LINK_LIFETIME.total_seconds() - 1)
    await line_runtime.engine.prune_events()
    answer = await line_client.get(graph)  # drawn now, from the row the prune kept
    assert answer.status_code == 200 and answer.content.startswith(PNG)
    clock.advance(seconds=(OUTBOX_MEMORY - IMAGE_LINK_LIFETIME).total_seconds() + 2)  # and 1 s
    await line_runtime.engine.prune_events()
    assert [row for row in await _rows(line_runtime) if row.id == reply_id] == []
    assert (await line_client.get(graph)).status_code == 404


async def test_an_altered_address_shows_nothing(
    graph: str, line_client: httpx.AsyncClient, line_runtime: Runtime
) -> None:
    reply_id, expires, signature = _parts(graph)
    other = await _someone_elses_chart(line_runtime)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    later = str(int(expires) + 86_400)
    for path in (
        f"/images/line/{other}/{expires}/{signature}.png",  # another member's chart
        f"/images/line/{int(reply_id) + 1}/{expires}/{signature}.png",  # the next reply
        f"/images/line/{reply_id}/{expires}/{flipped}.png",  # a forged signature
        f"/images/line/{reply_id}/{expires}/%E7%BD%B2%E5%90%8D.png",  # not even base64
        f"/images/line/{reply_id}/{later}/{signature}.png",  # a longer life
        f"/images/line/{10**30}/{expires}/{signature}.png",  # no database holds such an id
    ):
        refused = await line_client.get(path)
        assert (refused.status_code, refused.content) == (404, b""), path
    assert (await line_client.get(graph)).status_code == 200  # the real one still works


def _parts(path: str) -> tuple[str, str, str]:
    found = _ADDRESS.fullmatch(path)
    assert found, path
    return found[1], found[2], found[3]


async def _someone_elses_chart(runtime: Runtime) -> int:
    """Another LINE member's queued chart reply: its row id."""
    chart = Chart((("2026-10", 1200),), "member.graph.alt")
    async with runtime.database.transaction() as session:
        conversation, _ = await conversations.lock(
            session,
            "line",
            "U" + "f" * 32,
            flow="member",
            state="member",
            lang="ja",
            at=runtime.now(),
        )
        await queue(
            session,
            conversation,
            route={"reply_token": None, "received_at": runtime.now().isoformat(), "turn": "0" * 32},
            replies=[Reply("member.graph", {}, image=chart)],
            at=runtime.now(),
        )
    return max(row.id for row in await _rows(runtime) if row.user_id == "U" + "f" * 32)


async def test_pictures_that_would_pass_five_messages_are_said_in_words(
    line_runtime: Runtime, line_stand_in: LineStandIn
) -> None:
    line = Line.configured(line_runtime.settings.environ, line_runtime)
    assert line is not None
    await line.start()
    route = {"reply_token": None, "received_at": "2026-11-24T10:00:00+00:00", "turn": "1" * 32}
    user = "U4af4980629e7c3a2b1d0f5e6a7b8c9d0"
    chart = Reply(
        "member.graph",
        {
            "first": {"month": "2026-10"},
            "last": {"month": "2026-10"},
            "total": {"yen": 1200},
            "average": {"yen": 1200},
            "bars": {"totals": [["2026-10", 1200]]},
        },
        image=Chart((("2026-10", 1200),), "member.graph.alt"),
    )
    batch = [Outgoing(1, user, route, chart, "ja", 0)] + [
        Outgoing(n, user, route, Reply("member.statement.end"), "ja", n) for n in range(2, 6)
    ]
    try:
        await line.send(batch)
    finally:
        await line.close()
    assert [message["type"] for message in line_stand_in.delivered] == ["text"] * 5
    assert line_stand_in.texts[0] == render(chart, "ja")
    assert (
        "画像をお見せできない" in line_stand_in.texts[0]
        and "2026年10月 1,200円" in line_stand_in.texts[0]
    )


@pytest.mark.parametrize("public_url", [None, "", "http://bot.example.jp", "bot.example.jp"])
def test_line_needs_its_public_https_address(public_url: str | None) -> None:
    env = {
        "LINE_CHANNEL_SECRET": LINE_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "token",
        **({} if public_url is None else {"PUBLIC_URL": public_url}),
    }
    with pytest.raises(ValueError, match="PUBLIC_URL") as refused:
        LineSettings.from_env(env)
    assert len(str(refused.value).splitlines()) == 1
