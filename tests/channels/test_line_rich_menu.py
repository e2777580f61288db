"""`netanswer-bot line rich-menu` against the LINE stand-in, in a real subprocess:
the member menu LINE shows under the chat, its image, and a press on one of its
tiles answered for an enrolled member."""

import io
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matplotlib import image as mpimg

from adapters.channels import line_menu
from bot.runtime import Runtime
from flows import figures
from flows.cards import parse_card_number
from storage import sandbox
from tests.channels.conftest import LINE_SECRET, PUBLIC_URL, Friend
from tests.channels.line_stand_in import TOKEN, LineStandIn, png_size
from tests.enroll import answers_to_passcode

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
_DATA = ["menu:home", "menu:statement", "menu:points", "menu:payment", "menu:graph", "menu:menu"]
_SHOWN = ["ホーム", "明細", "ポイント", "お支払い", "利用グラフ", "メニュー"]
_CARD = "4980 0012 3456 7000"


def _env(stand_in: LineStandIn, **changes: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINE_")}
    env |= {
        "LINE_CHANNEL_SECRET": LINE_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "LINE_API_BASE_URL": stand_in.base_url,
        "PUBLIC_URL": PUBLIC_URL,
    }
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_COMMAND, "line", "rich-menu", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _install(stand_in: LineStandIn) -> dict[str, Any]:
    done = _run(_env(stand_in), "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _white_in_every_tile(png: bytes) -> bool:
    """Each tile has white ink inside its navy face: its label was drawn."""
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    margin = 20
    return all(
        (pixels[y + margin : y + height - margin, x + margin : x + width - margin, :3] > 0.9)
        .all(axis=-1)
        .any()
        for x, y, width, height in line_menu.tiles()
    )


def test_the_member_menu_becomes_every_friends_default(line_stand_in: LineStandIn) -> None:
    installed = _install(line_stand_in)

    menu_id = installed["rich_menu_id"]
    assert installed["replaced"] == []
    assert list(line_stand_in.rich_menus) == [menu_id]
    assert line_stand_in.default_rich_menu == menu_id
    steps = [call.endpoint for call in line_stand_in.calls]
    assert steps == ["richmenu.list", "richmenu.create", "richmenu.content", "richmenu.default"]
    assert all(call.ok for call in line_stand_in.calls)

    menu = line_stand_in.rich_menus[menu_id]
    assert menu["name"] == line_menu.NAME and menu["selected"] is False
    assert menu["chatBarText"] == "メニュー"
    width, height = menu["size"]["width"], menu["size"]["height"]
    assert (width, height) in ((2500, 843), (2500, 1686))

    # Six tiles, each pressing one of the member flow's buttons and showing its label.
    actions = [area["action"] for area in menu["areas"]]
    assert [action["type"] for action in actions] == ["postback"] * 6
    assert [action["data"] for action in actions] == _DATA
    assert [action["displayText"] for action in actions] == _SHOWN

    # The tiles cover the whole menu, each inside it, none over another.
    boxes = [area["bounds"] for area in menu["areas"]]
    assert all(
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
        for box in boxes
    )
    for first, second in itertools.combinations(boxes, 2):
        apart_x = (
            first["x"] + first["width"] <= second["x"]
            or second["x"] + second["width"] <= first["x"]
        )
        apart_y = (
            first["y"] + first["height"] <= second["y"]
            or second["y"] + second["height"] <= first["y"]
        )
        assert apart_x or apart_y, (first, second)
    assert sum(box["width"] * box["height"] for box in boxes) == width * height

    # The image is a PNG of exactly the declared size, a label drawn on every tile.
    png = line_stand_in.rich_menu_images[menu_id]
    upload = line_stand_in.called("richmenu.content")[0]
    assert upload.body["contentType"] == "image/png"
    assert png_size(png) == (width, height)
    assert mpimg.imread(io.BytesIO(png), format="png").shape[:2] == (height, width)
    assert _white_in_every_tile(png)


def test_a_second_run_replaces_the_first_and_leaves_other_menus(
    line_stand_in: LineStandIn,
) -> None:
    campaign = line_menu.request().to_dict() | {"name": "spring campaign"}
    line_stand_in.rich_menus["richmenu-campaign"] = campaign | {"richMenuId": "richmenu-campaign"}
    first = _install(line_stand_in)["rich_menu_id"]

    done = _run(_env(line_stand_in))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    second = line_stand_in.default_rich_menu
    assert second is not None and second != first
    assert re.fullmatch(rf"rich menu {second} is the default .*; 1 earlier deleted\n", done.stdout)
    assert set(line_stand_in.rich_menus) == {"richmenu-campaign", second}

    third = _install(line_stand_in)
    assert third["replaced"] == [second]
    assert set(line_stand_in.rich_menus) == {"richmenu-campaign", third["rich_menu_id"]}


def test_a_run_that_fails_half_way_is_cleaned_up_by_the_next(
    line_stand_in: LineStandIn,
) -> None:
    first = _install(line_stand_in)["rich_menu_id"]
    line_stand_in.fail("richmenu.default", 500)

    failed = _run(_env(line_stand_in), "--json")

    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr == (
        "netanswer-bot: LINE answered 500 when making the rich menu the default: "
        "An error occurred in the backend\n"
    )
    assert line_stand_in.default_rich_menu == first  # the members keep the menu they had
    (leftover,) = set(line_stand_in.rich_menus) - {first}
    again = _install(line_stand_in)
    assert sorted(again["replaced"]) == sorted([first, leftover])
    assert list(line_stand_in.rich_menus) == [again["rich_menu_id"]]


def test_a_refused_token_exits_1_without_showing_it(line_stand_in: LineStandIn) -> None:
    wrong = "wrong-token-7f3a9c"
    done = _run(_env(line_stand_in, LINE_CHANNEL_ACCESS_TOKEN=wrong), "--json")

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("netanswer-bot: LINE answered 401 when listing the rich menus")
    assert len(done.stderr.splitlines()) == 1
    assert wrong not in done.stderr and TOKEN not in done.stderr
    assert line_stand_in.rich_menus == {}


def test_an_unreachable_line_exits_1_with_one_line(line_stand_in: LineStandIn) -> None:
    done = _run(_env(line_stand_in, LINE_API_BASE_URL="http://127.0.0.1:9"))

    assert done.returncode == 1
    assert re.fullmatch(
        r"netanswer-bot: LINE could not be reached when listing the rich menus \(\w+\)\n",
        done.stderr,
    )
    assert TOKEN not in done.stderr


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (("LINE_CHANNEL_ACCESS_TOKEN",), "LINE_CHANNEL_ACCESS_TOKEN"),
        (("LINE_CHANNEL_SECRET",), "LINE_CHANNEL_SECRET"),
        (("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"), "LINE_CHANNEL_ACCESS_TOKEN"),
    ],
)
def test_missing_settings_exit_1_naming_the_variable(
    line_stand_in: LineStandIn, missing: tuple[str, ...], named: str
) -> None:
    done = _run(_env(line_stand_in, **dict.fromkeys(missing)))

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("netanswer-bot: ") and named in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert TOKEN not in done.stderr and LINE_SECRET not in done.stderr
    assert line_stand_in.calls == []


def test_without_a_japanese_font_the_tiles_are_labelled_in_english() -> None:
    png = line_menu.image(None)
    assert png_size(png) == (line_menu.WIDTH, line_menu.HEIGHT)
    assert _white_in_every_tile(png)


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


async def test_a_rich_menu_press_answers_an_enrolled_member(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await _enroll(friend, line_runtime)
    account = await line_runtime.engine.services.issuer.account(parse_card_number(_CARD))
    assert account is not None

    await friend.choose("menu:points")  # the ポイント tile

    answer = line_stand_in.called("reply")[-1]
    assert answer.ok
    shown = answer.body["messages"][0]["text"]
    assert figures.points(account.points, "ja") in shown
    assert figures.yen(account.points_yen, "ja") in shown
