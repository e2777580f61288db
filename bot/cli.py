"""The `netanswer-bot` command."""

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import uvicorn

from adapters.channels import web
from adapters.channels.console import Console
from bot import files, log_limit, runtime, server, serving, telephony
from bot.config import LOG_FILE, ConfigError, Settings
from bot.registry import FLOWS
from flows.cards import parse_card_number
from flows.messages import LANGUAGES
from flows.problems import Invalid
from storage import rotation, sandbox, schema
from storage.vault import VaultError

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format=_LOG_FORMAT,
        handlers=[log_limit.install(logging.StreamHandler(sys.stderr))],
    )
    try:
        return int(args.run(args) or 0)
    except (ConfigError, VaultError) as error:
        print(f"netanswer-bot: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netanswer-bot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each turn to stderr")
    commands = parser.add_subparsers(required=True, metavar="command")

    chat = commands.add_parser("chat", help="enroll from the terminal")
    chat.add_argument("--json", action="store_true", help="one JSON object per line, both ways")
    chat.add_argument("--user", default="local", help="chat user id; the same id resumes")
    chat.add_argument("--lang", choices=LANGUAGES, help="language of a new conversation")
    chat.set_defaults(run=_chat)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(required=True, metavar="action")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(run=_db_upgrade)
    db_commands.add_parser(
        "expire", help="wipe enrollments idle for 30 minutes (the server does this every minute)"
    ).set_defaults(run=_db_expire)

    serve = commands.add_parser(
        "serve", help="the web server: the web chat (sandbox), channel webhooks and /healthz"
    )
    # Every interface by default: the platform's router or proxy reaches the worker.
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--telegram-polling",
        action="store_true",
        help="fetch Telegram updates by long polling instead of the webhook",
    )
    serve.set_defaults(run=_serve)

    vault = commands.add_parser("vault", help="the encryption key ring")
    vault_commands = vault.add_subparsers(required=True, metavar="action")
    vault_commands.add_parser(
        "rotate", help="re-encrypt every stored field under the newest VAULT_KEYS key"
    ).set_defaults(run=_vault_rotate)

    graph = commands.add_parser("graph", help="print a flow's graph as Mermaid")
    graph.add_argument(
        "flow", nargs="?", default=FLOWS.entry.name, choices=[flow.name for flow in FLOWS]
    )
    graph.set_defaults(run=_graph)

    box = commands.add_parser("sandbox", help="the sandbox gateways")
    box_commands = box.add_subparsers(required=True, metavar="action")
    outbox = box_commands.add_parser("outbox", help="SMS and mail the sandbox 'sent'")
    outbox.add_argument("--json", action="store_true", help="one JSON object per message")
    outbox.set_defaults(run=_outbox)
    call = box_commands.add_parser("call", help="play a call to the toll-free verification line")
    call.add_argument("caller", help="the calling number, e.g. 03-1234-5678")
    call.set_defaults(run=_call)
    account = box_commands.add_parser("account", help="a demo card's account at the issuer")
    account.add_argument("card", help="the card number, e.g. '4980 0012 3456 7000'")
    account.add_argument("--json", action="store_true", help="one JSON object")
    account.set_defaults(run=_account)
    return parser


def _chat(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    if not (args.json or args.verbose):  # the terminal shows only the conversation
        _log_to_file(settings.data_dir / LOG_FILE)
    bot = runtime.start(settings)
    if not args.json:
        print(f"netanswer-bot data: {settings.data_dir}", file=sys.stderr)
    console = Console(bot, bot.database, bot.vault, user_id=args.user, lang=args.lang)
    bot.attach(console)
    with asyncio.Runner() as runner:
        try:
            if args.json:
                runner.run(console.run_json())
            else:
                console.run_interactive(runner)
        finally:
            runner.run(bot.close())


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(mode=files.DIR_MODE, parents=True, exist_ok=True)
    files.create_private(path)  # the FileHandler would create it 0644
    handler = log_limit.install(logging.FileHandler(path))
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root = logging.getLogger()
    for old in root.handlers:
        root.removeHandler(old)
    root.addHandler(handler)


def _db_upgrade(args: argparse.Namespace) -> None:
    schema.upgrade(Settings.from_env().database_url)


def _db_expire(args: argparse.Namespace) -> None:
    async def sweep() -> int:
        bot = runtime.start(Settings.from_env())
        try:
            return await bot.engine.expire_idle()
        finally:
            await bot.close()

    print(f"expired {asyncio.run(sweep())} idle enrollments")


def _serve(args: argparse.Namespace) -> None:
    # httpx logs every request URL at INFO, and a Bot API URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.telegram_polling:
        if "TELEGRAM_BOT_TOKEN" not in settings.environ:
            raise ConfigError("--telegram-polling needs TELEGRAM_BOT_TOKEN")
        settings = settings.with_env(TELEGRAM_POLLING="1")
    # In production the release phase migrates, once, before any worker starts.
    app = server.create_app(runtime.start(settings, upgrade=not settings.production))
    serving.raise_file_limit()
    if web.enabled(settings.environ):  # checked by create_app: a wrong WEB_CHAT stopped it
        print(f"netanswer-bot: web chat at {_url(args.host, args.port)} (Ctrl-C stops)", flush=True)
    config = serving.config(app, host=args.host, port=args.port, verbose=args.verbose)
    uvicorn.Server(config).run()


def _url(host: str, port: int) -> str:
    """Where a browser on this machine opens the server listening on ``host``."""
    if host in ("0.0.0.0", ""):  # noqa: S104 (every interface: loopback among them)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _vault_rotate(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    vault = settings.vault()
    rotation.check_keys(settings.database_url, vault)  # a missing or wrong key: nothing moved
    count = rotation.rotate(settings.database_url, vault)
    print(f"re-encrypted {count} fields under the newest key")


def _graph(args: argparse.Namespace) -> None:
    print(FLOWS[args.flow].flow.mermaid())


def _outbox(args: argparse.Namespace) -> None:
    async def listing() -> None:
        bot = runtime.start(Settings.from_env())
        try:
            async with bot.database.transaction() as session:
                messages = await sandbox.read(session, bot.vault)
        finally:
            await bot.close()
        for message in messages:
            if args.json:
                row = {
                    "at": message.at.isoformat(),
                    "kind": message.kind,
                    "to": message.to,
                    "text": message.text,
                }
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(
                    f"{message.at:%Y-%m-%d %H:%M:%S} {message.kind:4} {message.to}: {message.text}"
                )

    asyncio.run(listing())


def _account(args: argparse.Namespace) -> int:
    """The sandbox issuer's account of a demo card now: what the member services show."""
    try:
        card = parse_card_number(args.card)
    except Invalid:
        card = None
    bot = runtime.start(Settings.from_env())
    try:
        account = asyncio.run(bot.engine.services.issuer.account(card)) if card else None
    finally:
        asyncio.run(bot.close())
    if account is None:
        print("netanswer-bot: the sandbox issuer knows no such card", file=sys.stderr)
        return 1
    shown = {
        "payment": {
            "date": account.next_payment_date.isoformat(),
            "amount": account.next_payment_amount,
        },
        "points": {"balance": account.points, "yen": account.points_yen},
        "credit": {
            "limit": account.credit_limit,
            "used": account.credit_limit - account.available,
            "available": account.available,
        },
        "statements": {
            year_month: {
                "total": sum(line.amount for line in lines),
                "lines": [
                    {
                        "date": line.day.isoformat(),
                        "merchant": line.merchant,
                        "amount": line.amount,
                        "kind": line.kind.value,
                    }
                    for line in lines
                ],
            }
            for year_month, lines in sorted(account.statements.items())
        },
    }
    print(json.dumps(shown, ensure_ascii=False, indent=None if args.json else 2))
    return 0


def _call(args: argparse.Namespace) -> int:
    async def play() -> int:
        bot = runtime.start(Settings.from_env())
        try:
            return await telephony.inbound_call(bot.database, bot.vault, args.caller, bot.now())
        finally:
            await bot.close()

    try:
        matched = asyncio.run(play())
    except telephony.UnknownNumber:
        print(f"netanswer-bot: {args.caller!r} is not a phone number", file=sys.stderr)
        return 2
    print("identity confirmed" if matched else "no check was waiting for this number")
    return 0 if matched else 1
