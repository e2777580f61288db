"""A local HTTP server standing in for the LINE Messaging API: reply, push and the
loading animation, answered the way LINE does. It checks the bearer token, LINE's
limits (1-5 messages, 5,000 UTF-16 units of text, 13 quick-reply buttons with labels
of at most 20 characters, postback data of at most 300, images at https:// addresses
of at most 2,000 characters), treats reply tokens as single
use, and answers 409 to a push whose ``X-Line-Retry-Key`` was accepted before. On
demand it refuses reply tokens, fails the next calls of an endpoint, or accepts a push
but loses the answer (as a timeout would)."""

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
_ENDPOINTS = {
    "/v2/bot/message/reply": "reply",
    "/v2/bot/message/push": "push",
    "/v2/bot/chat/loading/start": "loading",
}


@dataclass(frozen=True)
class Call:
    endpoint: str  # reply, push or loading
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

    def called(self, endpoint: str) -> list[Call]:
        return [call for call in self.calls if call.endpoint == endpoint]

    @property
    def texts(self) -> list[str]:
        """Texts of the text messages delivered, reply or push, in order."""
        return [message["text"] for message in self.delivered if message["type"] == "text"]

    def _app(self) -> Starlette:
        routes = [Route(path, self._answer, methods=["POST"]) for path in _ENDPOINTS]
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
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Authentication failed. Confirm that the access token..."}
        failures = self._failures.get(endpoint)
        if failures:
            return failures.popleft(), {"message": "An error occurred in the backend"}
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
            if action["type"] != "postback" or not 1 <= len(action["label"]) <= 20:
                return "quickReply.items.action.label: 1 to 20 characters"
            if len(action["data"]) > 300 or len(action.get("displayText", "")) > 300:
                return "quickReply.items.action.data/displayText: at most 300 characters"
    return None
