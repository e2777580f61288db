"""A local HTTP server standing in for the Telegram Bot API: it records every call
and answers the way Telegram does (``{"ok": true, "result": ...}``), can fail the
next calls of a method on demand, and hands queued updates to ``getUpdates``. A call
uploading a file comes as multipart/form-data: the file is kept as bytes."""

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.channels.local_server import LocalServer

TOKEN = "123456:TEST-token_for-the-stand-in"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "NetAnswer", "username": "netanswer_bot"}
_EMPTY_POLL_WAIT = 0.05


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    ok: bool
    content_type: str = ""


class TelegramStandIn(LocalServer):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: deque[dict[str, Any]] = deque()
        self._failures: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self._passes: dict[str, int] = {}  # calls that succeed before the failures start
        self._message_ids = iter(range(9000, 10**6))
        super().__init__(self._app())

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to; the bot appends its token."""
        return f"http://127.0.0.1:{self.port}/bot"

    def fail(
        self, method: str, status: int, retry_after: int | None = None, *, after: int = 0
    ) -> None:
        """The next call of ``method`` (after ``after`` more that succeed) fails as
        Telegram would answer it."""
        self._passes[method] = after
        body: dict[str, Any] = {"ok": False, "error_code": status}
        if retry_after is not None:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        else:
            body["description"] = f"Error {status}"
        self._failures.setdefault(method, deque()).append((status, body))

    def called(self, method: str) -> list[dict[str, Any]]:
        """Parameters of the calls of ``method`` that succeeded, in order."""
        return [call.params for call in self.calls if call.method == method and call.ok]

    @property
    def texts(self) -> list[str]:
        """Texts of the messages delivered, in order."""
        return [params["text"] for params in self.called("sendMessage")]

    def _app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self._answer, methods=["POST"])])

    async def _answer(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        content_type = request.headers.get("content-type", "")
        body = await request.body()
        if content_type.startswith("multipart/form-data"):
            params = _multipart(body, content_type)
        else:
            form = parse_qsl(body.decode(), keep_blank_values=True)
            params = {key: _decoded(value) for key, value in form}
        failures = self._failures.get(method)
        if self._passes.get(method):
            self._passes[method] -= 1
        elif failures:
            status, answer = failures.popleft()
            self.calls.append(Call(method, params, ok=False, content_type=content_type))
            return JSONResponse(answer, status_code=status)
        self.calls.append(Call(method, params, ok=True, content_type=content_type))
        return JSONResponse({"ok": True, "result": await self._result(method, params)})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "sendPhoto"):
            sent = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
            }
            if method == "sendMessage":
                return {**sent, "text": params["text"]}
            photo = {
                "file_id": f"photo-{sent['message_id']}",
                "file_unique_id": "p",
                "width": 800,
                "height": 450,
            }
            return {**sent, "caption": params.get("caption", ""), "photo": [photo]}
        if method == "getUpdates":
            return await self._take_updates(int(params.get("offset", 0)))
        return True

    async def _take_updates(self, offset: int) -> list[dict[str, Any]]:
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()
        if not self.updates:
            await asyncio.sleep(_EMPTY_POLL_WAIT)  # a short long-poll keeps the bot from spinning
        return list(self.updates)


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """The fields of a multipart/form-data body: files as bytes, the rest as form
    values are."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        params[name] = content if part.get_filename() else _decoded(content.decode())
    return params


def _decoded(value: Any) -> Any:
    """PTB sends form fields; structured ones (keyboards, command lists) are JSON."""
    if isinstance(value, str) and value.startswith(("[", "{")):
        return json.loads(value)
    return value
