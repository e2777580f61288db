"""LINE's rich menu: six tiles under every chat with the bot that send the member
flow's button data as postbacks, installed by ``netanswer-bot line rich-menu``.

The image is drawn here with matplotlib at the menu's exact size: Japanese labels
when the machine has a font that draws them (e.g. Debian's ``fonts-ipafont-gothic``
or ``fonts-noto-cjk``), English ones otherwise. The tiles' ``displayText`` is always
Japanese, the language of LINE conversations.

An installation creates the menu, uploads its image, makes it the default for every
friend and only then deletes the menus installed before (found by :data:`NAME`), so
members always have a menu and running it again leaves exactly one. A run that fails
half-way leaves its new menu behind; the next run deletes it with the others.

The SDK sends the image to ``api-data.line.me`` and everything else to
``api.line.me``; ``LINE_API_BASE_URL`` replaces both (the SDK sends every call to the
configured host), so one stand-in serves them all.
"""

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Rectangle
from urllib3.exceptions import HTTPError

from flows.membership import Button
from flows.messages import DEFAULT_LANG, label, text
from flows.replies import Choice

#: How the bot recognises the menus it installed; LINE never shows it to members.
NAME = "netanswer-bot member menu"
WIDTH, HEIGHT = 2500, 843  # LINE's compact full-width size
COLUMNS, ROWS = 3, 2
BUTTONS = (  # left to right, top to bottom
    Choice(Button.HOME, "richmenu.home"),
    Choice(Button.STATEMENT, "richmenu.statement"),
    Choice(Button.POINTS, "richmenu.points"),
    Choice(Button.PAYMENT, "richmenu.payment"),
    Choice(Button.GRAPH, "richmenu.graph"),
    Choice(Button.MENU, "richmenu.menu"),
)
_FALLBACK_LANG = "en"  # labels any font draws
_TIMEOUT = 30.0  # seconds per API call; the image is the largest
_DPI = 100
_BACKGROUND = "#ffffff"
_TILE = "#0b3c6d"
_INK = "#ffffff"
_GAP = 6  # pixels of background between tiles
_FONT_SIZE = 64  # points: about 90 pixels at _DPI


class InstallFailed(Exception):
    """LINE refused a call or could not be reached; the message names the step and
    what LINE said, never the access token."""


@dataclass(frozen=True)
class Installed:
    rich_menu_id: str
    replaced: list[str]  # the menus this bot had installed before, now deleted


def install(access_token: str, api_base_url: str | None = None) -> Installed:
    """Install the member menu as every friend's default and delete the earlier ones,
    with the channel's settings (``LineSettings`` of the LINE channel)."""
    configuration = Configuration(host=api_base_url, access_token=access_token)
    with ApiClient(configuration) as client:
        api, blob = MessagingApi(client), MessagingApiBlob(client)
        with _step("listing the rich menus"):
            listed = api.get_rich_menu_list(_request_timeout=_TIMEOUT).richmenus
        earlier = [menu.rich_menu_id for menu in listed if menu.name == NAME]
        with _step("creating the rich menu"):
            created = api.create_rich_menu(request(), _request_timeout=_TIMEOUT).rich_menu_id
        with _step("uploading the rich menu image"):
            blob.set_rich_menu_image(
                created,
                body=image(japanese_font()),
                _headers={"Content-Type": "image/png"},
                _request_timeout=_TIMEOUT,
            )
        with _step("making the rich menu the default"):
            api.set_default_rich_menu(created, _request_timeout=_TIMEOUT)
        for rich_menu_id in earlier:
            with _step("deleting an earlier rich menu"):
                api.delete_rich_menu(rich_menu_id, _request_timeout=_TIMEOUT)
    return Installed(created, earlier)


def request() -> RichMenuRequest:
    """The menu: a tile per button, each a postback showing its label in the chat."""
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=x, y=y, width=width, height=height),
            action=PostbackAction(
                label=label(button, DEFAULT_LANG),
                data=str(button.data),  # the SDK takes no str subclass
                display_text=label(button, DEFAULT_LANG),
            ),
        )
        for (x, y, width, height), button in zip(tiles(), BUTTONS, strict=True)
    ]
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=False,
        name=NAME,
        chat_bar_text=text("richmenu.bar", DEFAULT_LANG),
        areas=areas,
    )


def tiles() -> list[tuple[int, int, int, int]]:
    """The menu cut into :data:`COLUMNS` x :data:`ROWS` tiles (x, y, width, height,
    in pixels from the top left) that cover it exactly."""
    xs = [WIDTH * column // COLUMNS for column in range(COLUMNS + 1)]
    ys = [HEIGHT * row // ROWS for row in range(ROWS + 1)]
    return [
        (xs[column], ys[row], xs[column + 1] - xs[column], ys[row + 1] - ys[row])
        for row in range(ROWS)
        for column in range(COLUMNS)
    ]


def image(font: Path | None) -> bytes:
    """The menu's PNG, :data:`WIDTH` x :data:`HEIGHT`: Japanese labels in ``font``, or
    English ones in matplotlib's own font when there is none."""
    lang, properties = (
        (DEFAULT_LANG, FontProperties(fname=font)) if font else (_FALLBACK_LANG, None)
    )
    figure = Figure(figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI, facecolor=_BACKGROUND)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, WIDTH)
    axes.set_ylim(HEIGHT, 0)  # y grows downwards, as in LINE's bounds
    axes.set_axis_off()
    for (x, y, width, height), button in zip(tiles(), BUTTONS, strict=True):
        axes.add_patch(
            Rectangle((x + _GAP, y + _GAP), width - 2 * _GAP, height - 2 * _GAP, color=_TILE)
        )
        axes.text(
            x + width / 2,
            y + height / 2,
            label(button, lang),
            color=_INK,
            fontsize=_FONT_SIZE,
            fontproperties=properties,
            horizontalalignment="center",
            verticalalignment="center",
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor=_BACKGROUND)
    return buffer.getvalue()


def japanese_font() -> Path | None:
    """The first font on the machine that has every character of the Japanese labels."""
    needed = {ord(character) for button in BUTTONS for character in label(button, DEFAULT_LANG)}
    for path in sorted(font_manager.findSystemFonts()):
        try:
            charmap = FT2Font(path).get_charmap()
        except (OSError, RuntimeError):  # unreadable or a format FreeType refuses
            continue
        if needed <= charmap.keys():
            return Path(path)
    return None


@contextmanager
def _step(doing: str) -> Iterator[None]:
    try:
        yield
    except ApiException as error:
        raise InstallFailed(f"LINE answered {error.status} when {doing}: {_said(error)}") from None
    except HTTPError as error:
        raise InstallFailed(
            f"LINE could not be reached when {doing} ({type(error).__name__})"
        ) from None


def _said(error: ApiException) -> str:
    """LINE's own message from an error answer, on one line."""
    try:
        message = str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        message = str(error.reason)
    return " ".join(message.split())
