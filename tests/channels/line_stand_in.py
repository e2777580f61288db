"""A local HTTP server standing in for the LINE Messaging API: reply, push, the
loading animation, link tokens for account linking, and rich menus (create, upload
the image, make default, list, delete), answered the way LINE does. It checks the
bearer token, LINE's limits (1-5 messages, 5,000 UTF-16 units of text, 13 quick-reply
buttons with labels of at most 20 characters, postback data of at most 300, images at
https:// addresses of at most 2,000 characters), treats reply tokens as single use, and
answers 409 to a push whose ``X-Line-Retry-Key`` was accepted before. On demand it
refuses reply tokens, fails the next calls of an endpoint, or accepts a push but loses
the answer (as a timeout would).

It also stands in for the two LINE Login endpoints a LIFF app's server asks: the
access token's verification (``GET /oauth2/v2.1/verify``) and the profile of its user
(``GET /v2/profile``), for access tokens made with :meth:`LineStandIn.liff_token`."""

import secrets
import struct
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.channels.local_server import LocalServer

TOKEN = "line-channel-access-token-for-the-stand-in"
LOGIN_CHANNEL_ID = "1657000001"  # the LINE Login channel of the LIFF app
IMAGE_TYPES = ("image/png", "image/jpeg")
IMAGE_LIMIT = 1024 * 1024  # bytes of a rich menu image
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ENDPOINTS = {
    "/v2/bot/message/reply": "reply",
    "/v2/bot/message/push": "push",
    "/v2/bot/chat/loading/start": "loading",
}


@dataclass(frozen=True)
class Call:
    endpoint: str  # reply, push, loading, or richmenu.create|content|default|list|delete
    body: dict[str, Any]
    retry_key: str | None
    status: int

    @property
    def ok(self) -> bool:
        return self.status in (200, 202)


class LineStandIn(LocalServer):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.delivered: list[dict[str, Any]] = []  # messages that reached the member
        self._used_tokens: set[str] = set()
        self._accepted_keys: set[str] = set()
        self._refused_tokens = 0
        self._failures: dict[str, deque[int]] = {}
        self._lost_answers: dict[str, int] = {}
        self.rich_menus: dict[str, dict[str, Any]] = {}  # by id, as created
        self.rich_menu_images: dict[str, bytes] = {}
        self.default_rich_menu: str | None = None
        self.link_tokens: dict[str, str] = {}  # issued, to the user they were issued for
        #: LIFF access tokens: (user id, LINE Login channel, seconds left).
        self.liff_tokens: dict[str, tuple[str, str, int]] = {}
        super().__init__(self._app())

    @property
    def base_url(self) -> str:
        """What LINE_API_BASE_URL is set to; the SDK appends ``/v2/...``."""
        return f"http://127.0.0.1:{self.port}"

    def refuse_reply_tokens(self, count: int = 1) -> None:
        """The next ``count`` reply calls get 400 "Invalid reply token" (expired)."""
        self._refused_tokens += count

    def fail(self, endpoint: str, status: int) -> None:
        """The next call of ``endpoint`` fails with ``status`` and delivers nothing."""
        self._failures.setdefault(endpoint, deque()).append(status)

    def lose_answer(self, endpoint: str) -> None:
        """The next call of ``endpoint`` is carried out, but answered with a 500."""
        self._lost_answers[endpoint] = self._lost_answers.get(endpoint, 0) + 1

    def liff_token(
        self, user_id: str, *, channel: str = LOGIN_CHANNEL_ID, expires_in: int = 2_591_000
    ) -> str:
        """An access token as ``liff.getAccessToken()`` gives the LIFF app of
        ``channel`` opened by ``user_id``."""
        token = secrets.token_urlsafe(32)
        self.liff_tokens[token] = (user_id, channel, expires_in)
        return token

    def called(self, endpoint: str) -> list[Call]:
        return [call for call in self.calls if call.endpoint == endpoint]

    @property
    def texts(self) -> list[str]:
        """Texts of the text messages delivered, reply or push, in order."""
        return [message["text"] for message in self.delivered if message["type"] == "text"]

    def _app(self) -> Starlette:
        routes = [Route(path, self._answer, methods=["POST"]) for path in _ENDPOINTS]
        routes += [
            Route("/v2/bot/richmenu", self._create_rich_menu, methods=["POST"]),
            Route("/v2/bot/richmenu/list", self._list_rich_menus, methods=["GET"]),
            Route("/v2/bot/richmenu/{id}/content", self._upload_image, methods=["POST"]),
            Route("/v2/bot/user/all/richmenu/{id}", self._set_default, methods=["POST"]),
            Route("/v2/bot/richmenu/{id}", self._delete_rich_menu, methods=["DELETE"]),
            Route("/v2/bot/user/{user}/linkToken", self._issue_link_token, methods=["POST"]),
            Route("/oauth2/v2.1/verify", self._verify, methods=["GET"]),
            Route("/v2/profile", self._profile, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def _answer(self, request: Request) -> JSONResponse:
        endpoint = _ENDPOINTS[request.url.path]
        body = await request.json()
        retry_key = request.headers.get("X-Line-Retry-Key")
        status, answer = self._outcome(endpoint, request, body, retry_key)
        self.calls.append(Call(endpoint, body, retry_key, status))
        return JSONResponse(answer, status_code=status)

    def _outcome(
        self, endpoint: str, request: Request, body: dict[str, Any], retry_key: str | None
    ) -> tuple[int, dict[str, Any]]:
        refused = self._refused(endpoint, request)
        if refused:
            return refused
        if endpoint == "loading":
            return self._loading(body)
        problem = _problem(body.get("messages"))
        if problem:
            return 400, {"message": "The request body has 1 error(s)", "details": [problem]}
        if endpoint == "reply":
            status, answer = self._reply(body)
        else:
            status, answer = self._push(body, retry_key)
        if status == 200 and self._lost_answers.get(endpoint):
            self._lost_answers[endpoint] -= 1
            return 500, {"message": "An error occurred in the backend"}
        return status, answer

    def _refused(self, endpoint: str, request: Request) -> tuple[int, dict[str, Any]] | None:
        """A wrong token or a failure asked for, before anything else is looked at."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Authentication failed. Confirm that the access token..."}
        failures = self._failures.get(endpoint)
        if failures:
            return failures.popleft(), {"message": "An error occurred in the backend"}
        return None

    def _recorded(
        self, endpoint: str, body: dict[str, Any], status: int, answer: dict[str, Any]
    ) -> JSONResponse:
        self.calls.append(Call(endpoint, body, None, status))
        return JSONResponse(answer, status_code=status)

    async def _create_rich_menu(self, request: Request) -> JSONResponse:
        body = await request.json()
        outcome = self._refused("richmenu.create", request)
        if outcome is None:
            problem = _rich_menu_problem(body)
            if problem:
                outcome = 400, {"message": "The request body has 1 error(s)", "details": [problem]}
            else:
                rich_menu_id = f"richmenu-{uuid.uuid4().hex}"
                self.rich_menus[rich_menu_id] = {"richMenuId": rich_menu_id, **body}
                outcome = 200, {"richMenuId": rich_menu_id}
        return self._recorded("richmenu.create", body, *outcome)

    async def _list_rich_menus(self, request: Request) -> JSONResponse:
        outcome = self._refused("richmenu.list", request) or (
            200,
            {"richmenus": list(self.rich_menus.values())},
        )
        return self._recorded("richmenu.list", {}, *outcome)

    async def _upload_image(self, request: Request) -> JSONResponse:
        rich_menu_id = request.path_params["id"]
        content_type = request.headers.get("Content-Type", "")
        data = await request.body()
        shown = {"richMenuId": rich_menu_id, "contentType": content_type, "bytes": len(data)}
        outcome = self._refused("richmenu.content", request) or self._image(
            rich_menu_id, content_type, data
        )
        return self._recorded("richmenu.content", shown, *outcome)

    def _image(
        self, rich_menu_id: str, content_type: str, data: bytes
    ) -> tuple[int, dict[str, Any]]:
        menu = self.rich_menus.get(rich_menu_id)
        if menu is None:
            return 404, {"message": "Not found"}
        if rich_menu_id in self.rich_menu_images:
            return 400, {"message": "An image has already been uploaded to the richmenu"}
        if content_type not in IMAGE_TYPES or len(data) > IMAGE_LIMIT:
            return 400, {"message": "The image must be a JPEG or PNG of at most 1 MB"}
        size = menu["size"]
        if content_type == "image/png" and png_size(data) != (size["width"], size["height"]):
            return 400, {"message": "The image size must match the rich menu size"}
        self.rich_menu_images[rich_menu_id] = data
        return 200, {}

    async def _set_default(self, request: Request) -> JSONResponse:
        rich_menu_id = request.path_params["id"]
        outcome = self._refused("richmenu.default", request)
        if outcome is None:
            if rich_menu_id not in self.rich_menus:
                outcome = 404, {"message": "Not found"}
            elif rich_menu_id not in self.rich_menu_images:
                outcome = 400, {"message": "must upload richmenu image before applying it to user"}
            else:
                self.default_rich_menu = rich_menu_id
                outcome = 200, {}
        return self._recorded("richmenu.default", {"richMenuId": rich_menu_id}, *outcome)

    async def _issue_link_token(self, request: Request) -> JSONResponse:
        """A random link token for a user id of LINE's form ("U" and 32 hex digits)."""
        user = request.path_params["user"]
        outcome = self._refused("linkToken", request)
        if outcome is None:
            if not (user.startswith("U") and len(user) == 33):
                outcome = 400, {"message": "The value for the 'userId' parameter is invalid"}
            else:
                token = secrets.token_urlsafe(24)
                self.link_tokens[token] = user
                outcome = 200, {"linkToken": token}
        return self._recorded("linkToken", {"userId": user}, *outcome)

    async def _verify(self, request: Request) -> JSONResponse:
        """LINE Login's answer about an access token: its channel and time left."""
        failures = self._failures.get("verify")
        if failures:  # asked for with fail("verify", status)
            return self._recorded("verify", {}, failures.popleft(), {"message": "error"})
        found = self.liff_tokens.get(request.query_params.get("access_token", ""))
        if found is None or found[2] <= 0:
            problem = {"error": "invalid_request", "error_description": "access token expired"}
            return self._recorded("verify", {}, 400, problem)
        _, channel, left = found
        answer = {"scope": "profile openid", "client_id": channel, "expires_in": left}
        return self._recorded("verify", {}, 200, answer)

    async def _profile(self, request: Request) -> JSONResponse:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        found = self.liff_tokens.get(bearer)
        if found is None or found[2] <= 0:
            return self._recorded("profile", {}, 401, {"message": "invalid token"})
        return self._recorded("profile", {}, 200, {"userId": found[0], "displayName": "Hanako"})

    async def _delete_rich_menu(self, request: Request) -> JSONResponse:
        rich_menu_id = request.path_params["id"]
        outcome = self._refused("richmenu.delete", request)
        if outcome is None:
            if self.rich_menus.pop(rich_menu_id, None) is None:
                outcome = 404, {"message": "Not found"}
            else:
                self.rich_menu_images.pop(rich_menu_id, None)
                if self.default_rich_menu == rich_menu_id:
                    self.default_rich_menu = None
                outcome = 200, {}
        return self._recorded("richmenu.delete", {"richMenuId": rich_menu_id}, *outcome)

    def _reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = body.get("replyToken")
        if self._refused_tokens and token:  # expired: it stays refused
            self._refused_tokens -= 1
            self._used_tokens.add(token)
        if not token or token in self._used_tokens:
            return 400, {"message": "Invalid reply token"}
        self._used_tokens.add(token)
        return 200, self._deliver(body["messages"])

    def _push(self, body: dict[str, Any], retry_key: str | None) -> tuple[int, dict[str, Any]]:
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return 400, {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}
            if retry_key in self._accepted_keys:
                return 409, {"message": "The retry key is already accepted"}
            self._accepted_keys.add(retry_key)
        if not str(body.get("to", "")).startswith("U"):
            return 400, {"message": "The property, 'to', in the request body is invalid"}
        return 200, self._deliver(body["messages"])

    def _loading(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        seconds = body.get("loadingSeconds", 20)
        if not str(body.get("chatId", "")).startswith("U") or seconds % 5 or not 5 <= seconds <= 60:
            return 400, {"message": "The request body has 1 error(s)"}
        return 202, {}

    def _deliver(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        self.delivered.extend(messages)
        return {"sentMessages": [{"id": uuid.uuid4().hex[:18]} for _ in messages]}


def _problem(messages: Any) -> str | None:
    """What LINE would refuse in a list of messages, or None."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "messages: 1 to 5 required"
    for message in messages:
        if message.get("type") == "image":
            urls = (message.get("originalContentUrl", ""), message.get("previewImageUrl", ""))
            if not all(url.startswith("https://") and len(url) <= 2000 for url in urls):
                return "originalContentUrl/previewImageUrl: https, at most 2000 characters"
            continue
        text = message.get("text", "")
        if message.get("type") != "text" or not 1 <= len(text.encode("utf-16-le")) // 2 <= 5000:
            return "text: 1 to 5000 UTF-16 units"
        items = (message.get("quickReply") or {}).get("items", [])
        if len(items) > 13:
            return "quickReply.items: at most 13"
        for item in items:
            action = item["action"]
            if action["type"] not in ("postback", "uri") or not 1 <= len(action["label"]) <= 20:
                return "quickReply.items.action.label: 1 to 20 characters"
            if action["type"] == "uri":
                if not str(action.get("uri", "")).startswith(("https://", "http://")):
                    return "quickReply.items.action.uri: an http(s) address"
                continue
            if len(action["data"]) > 300 or len(action.get("displayText", "")) > 300:
                return "quickReply.items.action.data/displayText: at most 300 characters"
    return None


def _rich_menu_problem(body: dict[str, Any]) -> dict[str, str] | None:
    """What LINE would refuse in a rich menu object, or None. Areas are postbacks,
    all the bot sends; LINE has other actions too."""
    size = body.get("size") or {}
    width, height = size.get("width", 0), size.get("height", 0)
    if not (800 <= width <= 2500 and height >= 250 and width / height >= 1.45):
        return {"property": "size", "message": "800-2500 wide, 250 high or more, ratio 1.45+"}
    if not isinstance(body.get("selected"), bool):
        return {"property": "selected", "message": "must be specified"}
    if not 1 <= len(body.get("chatBarText", "")) <= 14:
        return {"property": "chatBarText", "message": "1 to 14 characters"}
    if not 1 <= len(body.get("name", "")) <= 300:
        return {"property": "name", "message": "1 to 300 characters"}
    areas = body.get("areas") or []
    if not 1 <= len(areas) <= 20:
        return {"property": "areas", "message": "1 to 20 areas"}
    for area in areas:
        bounds, action = area.get("bounds", {}), area.get("action", {})
        x, y = bounds.get("x", -1), bounds.get("y", -1)
        if (
            x < 0
            or y < 0
            or x + bounds.get("width", 0) > width
            or y + bounds.get("height", 0) > height
        ):
            return {"property": "areas.bounds", "message": "outside the rich menu"}
        if action.get("type") != "postback" or not 0 < len(action.get("data", "")) <= 300:
            return {"property": "areas.action", "message": "a postback with 1 to 300 characters"}
        if len(action.get("label", "")) > 20 or len(action.get("displayText", "")) > 300:
            return {"property": "areas.action", "message": "label 20, displayText 300 at most"}
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header, or None if ``data`` is no PNG."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height
