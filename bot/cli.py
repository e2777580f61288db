"""The `netanswer-bot` command."""

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import uvicorn

from adapters.channels import web
from adapters.channels.console import Console
from adapters.channels.line import LineSettings
from adapters.gateways import Account
from bot import (
    coverage,
    files,
    log_limit,
    member_links,
    replay,
    runtime,
    server,
    serving,
    support,
    telephony,
    transcripts,
    worker,
)
from bot.config import LOG_FILE, ConfigError, Settings
from bot.registry import FLOWS
from flows.cards import parse_card_number
from flows.messages import LANGUAGES
from flows.problems import Invalid
from storage import rotation, sandbox, schema
from storage.vault import VaultError

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

T = TypeVar("T")


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

    commands.add_parser(
        "worker", help="the background loops of serve without HTTP: outbox retries, pruning"
    ).set_defaults(run=_worker)

    vault = commands.add_parser("vault", help="the encryption key ring")
    vault_commands = vault.add_subparsers(required=True, metavar="action")
    vault_commands.add_parser(
        "rotate", help="re-encrypt every stored field under the newest VAULT_KEYS key"
    ).set_defaults(run=_vault_rotate)

    line = commands.add_parser("line", help="the LINE channel")
    line_commands = line.add_subparsers(required=True, metavar="action")
    rich_menu = line_commands.add_parser(
        "rich-menu", help="install the member menu under every LINE chat, replacing the last one"
    )
    rich_menu.add_argument("--json", action="store_true", help="one JSON object")
    rich_menu.set_defaults(run=_line_rich_menu)

    graph = commands.add_parser("graph", help="print a flow's graph as Mermaid")
    graph.add_argument("flow", nargs="?", choices=[flow.name for flow in FLOWS])
    graph.add_argument(
        "--transcript",
        type=int,
        metavar="ID",
        help="highlight the path of this conversation (every flow it went through)",
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
    _transcript_commands(commands)
    _member_commands(commands)
    _support_commands(commands)
    return parser


def _support_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    group = commands.add_parser("support", help="the support console's agents and audit log")
    actions = group.add_subparsers(required=True, metavar="action")
    add = actions.add_parser("add-agent", help="create an agent (asks the password twice)")
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    add.set_defaults(run=_support_add_agent)
    for verb, enabled, about in (
        ("disable-agent", False, "stop an agent signing in, and end their sessions (audited)"),
        ("enable-agent", True, "let a disabled agent sign in again (audited)"),
    ):
        switch = actions.add_parser(verb, help=about)
        switch.add_argument("name", metavar="NAME")
        switch.set_defaults(run=_support_switch_agent, enabled=enabled)
    trail = actions.add_parser("audit", help="every agent and operator action, oldest first")
    trail.add_argument("--json", action="store_true", help="a JSON array of objects")
    trail.set_defaults(run=_support_audit)


def _support_add_agent(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            return _fail("the passwords differ")

    try:
        _with_runtime(lambda bot: support.add_agent(bot, args.name, password))
    except support.AgentError as error:
        return _fail(str(error))
    print(f"agent {args.name} added")
    return 0


def _support_switch_agent(args: argparse.Namespace) -> int:
    async def switch() -> bool:
        bot = runtime.start(Settings.from_env())
        try:
            return await support.set_enabled(bot, args.name, enabled=args.enabled)
        finally:
            await bot.close()

    try:
        changed = asyncio.run(switch())
    except support.AgentError as error:
        return _fail(str(error))
    done = "enabled" if args.enabled else "disabled"
    print(f"agent {args.name} {done}" if changed else f"agent {args.name} was already {done}")
    return 0


def _support_audit(args: argparse.Namespace) -> None:
    rows = _with_runtime(lambda bot: support.audit_rows(bot.database))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        who = row["agent"] or "operator"
        detail = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        member = row["net_answer_id"] or "-"
        print(f"{row['at']}\t{who}\t{row['action']}\t{member}\t{detail}")


def _member_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    group = commands.add_parser("members", help="the chats linked to members, for operators")
    actions = group.add_subparsers(required=True, metavar="action")
    links = actions.add_parser("links", help="the chats linked to a member (audited)")
    links.add_argument("net_answer_id", metavar="NET_ANSWER_ID")
    links.add_argument("--json", action="store_true", help="one JSON object")
    links.set_defaults(run=_members_links)
    unlink = actions.add_parser(
        "unlink", help="end every chat link of a member, e.g. a lost phone (audited)"
    )
    unlink.add_argument("net_answer_id", metavar="NET_ANSWER_ID")
    unlink.add_argument("--all", action="store_true", required=True, help="every chat (required)")
    unlink.add_argument("--json", action="store_true", help="one JSON object")
    unlink.set_defaults(run=_members_unlink)


def _transcript_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    group = commands.add_parser("transcripts", help="redacted conversations, for support")
    actions = group.add_subparsers(required=True, metavar="action")
    listing = actions.add_parser("list", help="one conversation per line, oldest first")
    listing.add_argument("--channel", help="only this channel (console, telegram, line)")
    listing.add_argument(
        "--since", type=_day, help="only conversations active since YYYY-MM-DD (Japan time)"
    )
    listing.add_argument("--state", help="only conversations whose last state is this")
    listing.add_argument(
        "--outcome", choices=[outcome.value for outcome in transcripts.Outcome], help="only these"
    )
    listing.add_argument("--member", metavar="NETANSWER_ID", help="only chats linked to him")
    listing.add_argument("--json", action="store_true", help="a JSON array of objects")
    listing.set_defaults(run=_transcripts_list)
    show = actions.add_parser("show", help="a conversation as a timeline")
    show.add_argument("id", type=int, help="the conversation id (from `transcripts list`)")
    show.add_argument("--json", action="store_true", help="one JSON object")
    show.set_defaults(run=_transcripts_show)
    export = actions.add_parser("export", help="a conversation as JSON Lines, one row a line")
    export.add_argument("id", type=int, help="the conversation id (from `transcripts list`)")
    export.set_defaults(run=_transcripts_export)
    purge = actions.add_parser("purge", help="delete transcript rows older than the retention")
    purge.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="e.g. 180d (default: TRANSCRIPT_RETENTION_DAYS, 180)",
    )
    purge.set_defaults(run=_transcripts_purge)
    again = actions.add_parser("replay", help="re-run an export against the current flows")
    again.add_argument("file", type=Path, help="a file `transcripts export` wrote")
    again.add_argument("--json", action="store_true", help="one JSON object")
    again.set_defaults(run=_transcripts_replay)
    covered = actions.add_parser("coverage", help="which transitions conversations went through")
    covered.add_argument("--since", type=_day, help="only turns since YYYY-MM-DD (Japan time)")
    covered.add_argument("--json", action="store_true", help="a JSON array, one object a flow")
    covered.set_defaults(run=_transcripts_coverage)


def _chat(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    if not (args.json or args.verbose):  # the terminal shows only the conversation
        _log_to_file(settings.data_dir / LOG_FILE)
    bot = runtime.start(settings)
    if not args.json:
        print(f"netanswer-bot data: {settings.data_dir}", file=sys.stderr)
    console = Console(
        bot,
        bot.database,
        bot.vault,
        user_id=args.user,
        lang=args.lang,
        images=files.images(settings),
    )
    bot.attach(console)
    with asyncio.Runner() as runner:
        try:
            if args.json:
                runner.run(console.run_json())
            else:
                console.run_interactive(runner)
        finally:
            runner.run(bot.close())


def _with_runtime(
    work: Callable[[runtime.Runtime], Awaitable[T]], settings: Settings | None = None
) -> T:
    """``work`` done on a bot started from ``settings`` (the environment's by default),
    closed afterwards whatever happens."""

    async def run() -> T:
        bot = runtime.start(settings or Settings.from_env())
        try:
            return await work(bot)
        finally:
            await bot.close()

    return asyncio.run(run())


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
    count = _with_runtime(lambda bot: bot.engine.expire_idle())
    print(f"expired {count} idle enrollments")


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


def _worker(args: argparse.Namespace) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # as serve: URLs carry the bot token
    settings = Settings.from_env()
    bot = runtime.start(settings, upgrade=not settings.production)
    asyncio.run(worker.run(bot))


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


def _line_rich_menu(args: argparse.Namespace) -> int:
    from adapters.channels import line_menu  # matplotlib loads for this command only

    # urllib3 warns at each retry of a refused connection, and the SDK resets the level
    # of "urllib3" itself; the answer is one line.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    try:
        settings = LineSettings.from_env(Settings.from_env().environ)
    except ValueError as error:  # half a configuration, named by the message
        return _fail(str(error))
    if settings is None:
        return _fail(
            "LINE is not configured: set LINE_CHANNEL_ACCESS_TOKEN and LINE_CHANNEL_SECRET"
        )
    try:
        installed = line_menu.install(settings.access_token, settings.api_base_url)
    except line_menu.InstallFailed as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps({"rich_menu_id": installed.rich_menu_id, "replaced": installed.replaced}))
    else:
        print(
            f"rich menu {installed.rich_menu_id} is the default for every LINE friend; "
            f"{len(installed.replaced)} earlier deleted"
        )
    return 0


def _fail(message: str) -> int:
    print(f"netanswer-bot: {message}", file=sys.stderr)
    return 1


def _graph(args: argparse.Namespace) -> int:
    if args.transcript is None:
        print(FLOWS[args.flow or FLOWS.entry.name].flow.mermaid())
        return 0

    entries = _with_runtime(lambda bot: coverage.conversation(bot.database, args.transcript))
    if not entries:
        return _no_transcript(args.transcript)
    names = [args.flow] if args.flow else list(dict.fromkeys(e.flow for e in entries if e.flow))
    print("\n\n".join(coverage.highlighted(FLOWS[n].flow, entries, FLOWS) for n in names))
    return 0


def _outbox(args: argparse.Namespace) -> None:
    async def listing(bot: runtime.Runtime) -> list[sandbox.Delivered]:
        async with bot.database.transaction() as session:
            return await sandbox.read(session, bot.vault)

    for message in _with_runtime(listing):
        if args.json:
            row = {
                "at": message.at.isoformat(),
                "kind": message.kind,
                "to": message.to,
                "text": message.text,
            }
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{message.at:%Y-%m-%d %H:%M:%S} {message.kind:4} {message.to}: {message.text}")


def _account(args: argparse.Namespace) -> int:
    """The sandbox issuer's account of a demo card now: what the member services show."""
    try:
        card = parse_card_number(args.card)
    except Invalid:
        card = None

    async def look_up(bot: runtime.Runtime) -> Account | None:
        return await bot.engine.services.issuer.account(card) if card else None

    account = _with_runtime(look_up)
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
    try:
        matched = _with_runtime(
            lambda bot: telephony.inbound_call(bot.database, bot.vault, args.caller, bot.now())
        )
    except telephony.UnknownNumber:
        print(f"netanswer-bot: {args.caller!r} is not a phone number", file=sys.stderr)
        return 2
    print("identity confirmed" if matched else "no check was waiting for this number")
    return 0 if matched else 1


def _members_links(args: argparse.Namespace) -> int:
    found = _with_runtime(
        lambda bot: member_links.listing(bot.database, args.net_answer_id, bot.now())
    )
    if found is None:
        return _fail(f"no member with Net Answer ID {args.net_answer_id!r}")
    if args.json:
        links = [link.as_json() for link in found]
        print(json.dumps({"net_answer_id": args.net_answer_id, "links": links}))
        return 0
    if not found:
        print(f"{args.net_answer_id}: no chat is linked")
    for link in found:
        last = _japan_time(link.last_used) if link.last_used else "not used since linking"
        print(
            f"{link.channel}\t{link.user}\tlinked {_japan_time(link.linked_at)}\tlast used {last}"
        )
    return 0


def _members_unlink(args: argparse.Namespace) -> int:
    count = _with_runtime(
        lambda bot: member_links.unlink_all(bot.database, args.net_answer_id, bot.now())
    )
    if count is None:
        return _fail(f"no member with Net Answer ID {args.net_answer_id!r}")
    if args.json:
        print(json.dumps({"net_answer_id": args.net_answer_id, "unlinked": count}))
    else:
        print(f"{args.net_answer_id}: {count} chat links ended")
    return 0


def _day(text: str) -> datetime:
    """A YYYY-MM-DD date as the start of that day in Japan."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=transcripts.JAPAN)


def _days(text: str) -> int:
    count = text.removesuffix("d")
    if not count.isascii() or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days such as 180d")
    return int(count)


def _japan_time(moment: datetime) -> str:
    return moment.astimezone(transcripts.JAPAN).strftime("%Y-%m-%d %H:%M:%S JST")


def _transcripts_list(args: argparse.Namespace) -> None:
    listed = _with_runtime(
        lambda bot: transcripts.listing(
            bot.database,
            FLOWS,
            bot.now(),
            channel=args.channel,
            since=args.since,
            state=args.state,
            outcome=transcripts.Outcome(args.outcome) if args.outcome else None,
            net_answer_id=args.member,
        )
    )
    if args.json:
        print(json.dumps([found.as_json() for found in listed], ensure_ascii=False))
        return
    for found in listed:
        print(
            f"{found.id}\t{found.channel}\t{_japan_time(found.started)}\t"
            f"{found.last_state}\t{found.outcome}"
        )


def _transcript(
    conversation_id: int,
) -> tuple[transcripts.Listed, list[transcripts.Step]] | None:
    async def read(
        bot: runtime.Runtime,
    ) -> tuple[transcripts.Listed, list[transcripts.Step]] | None:
        found = await transcripts.listing(
            bot.database, FLOWS, bot.now(), conversation_id=conversation_id
        )
        if not found:
            return None
        return found[0], await transcripts.steps(bot.database, conversation_id, found[0].lang)

    return _with_runtime(read)


def _no_transcript(conversation_id: int) -> int:
    print(f"netanswer-bot: no transcript with id {conversation_id}", file=sys.stderr)
    return 1


def _transcripts_show(args: argparse.Namespace) -> int:
    read = _transcript(args.id)
    if read is None:
        return _no_transcript(args.id)
    found, steps = read
    if args.json:
        shown = {**found.as_json(), "steps": [step.as_json() for step in steps]}
        print(json.dumps(shown, ensure_ascii=False))
        return 0
    print(
        f"conversation {found.id} on {found.channel}, user {found.chat_user or '?'}: "
        f"{found.outcome} at {found.last_state}"
    )
    for step in steps:
        print(
            f"\n{_japan_time(step.at)}  [{step.state_before} -> {step.state_after}]"
            f"  {step.flow} {step.flow_version}"
        )
        print(f"  member: {transcripts.event_text(step.event)}")
        for reply in step.replies:
            text = reply["text"].replace("\n", "\n         ")
            print(f"  bot:   {text}")
            if reply.get("choices"):
                print(f"         buttons: {' '.join(reply['choices'])}")
    return 0


def _transcripts_export(args: argparse.Namespace) -> int:
    read = _transcript(args.id)
    if read is None:
        return _no_transcript(args.id)
    found, steps = read
    for line in transcripts.export_lines(steps, channel=found.channel, lang=found.lang):
        print(json.dumps(line, ensure_ascii=False))
    return 0


def _transcripts_replay(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(replay.replay(replay.read(args.file), Settings.from_env()))
    except (replay.Unreadable, replay.Unreplayable) as error:
        print(f"netanswer-bot: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    elif report.reproduced:
        print(f"reproduced: all {report.steps} steps")
    else:
        print(f"differs at step {report.differs_at} of {report.steps}")
        print(replay.side_by_side(report.recorded, report.now))
    return 0 if report.reproduced else 1


def _transcripts_coverage(args: argparse.Namespace) -> None:
    async def read(bot: runtime.Runtime) -> list[coverage.FlowCoverage]:
        moves = await coverage.recorded_moves(bot.database, FLOWS, since=args.since)
        return coverage.coverage(FLOWS, moves)

    found = _with_runtime(read)
    if args.json:
        print(json.dumps([flow.as_json() for flow in found], ensure_ascii=False))
        return
    for flow in found:
        print(f"{flow.flow}: {len(flow.taken)} of {len(flow.taken) + len(flow.untaken)} taken")
        for transition, count in flow.taken:
            print(f"  {count:6}  {transition}")
        for transition in flow.untaken:
            print(f"  {'never':>6}  {transition}")
        for before, after, count in flow.other:
            print(f"  {count:6}  {before} -> {after} (not drawn: /cancel, /start)")


def _transcripts_purge(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    days = args.older_than or settings.transcript_retention_days

    count = _with_runtime(
        lambda bot: transcripts.purge(bot.database, before=bot.now() - timedelta(days=days)),
        settings,
    )
    print(f"deleted {count} transcript rows older than {days} days")
