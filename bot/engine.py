"""The engine: one member event in, replies out.

Per event: claim the channel's event id (a redelivery stops here), lock the
conversation row, run the step of the conversation's flow on a fresh Dialogue, and
write flow, state, slots, the redacted transcript and the outbox rows of its replies,
SMS and mail in the same transaction. They go out after the commit, so a rolled-back
turn never sends anything. Password hashing happens between transactions: a step that
needs it stops the turn (:class:`bot.turn.Unprepared`), which is rolled back, and is
run again with the hash.

The engine knows no flow by name: it runs the registry it is given, starting new
conversations in its entry flow and moving a conversation on where a flow exits.
"""

import asyncio
import copy
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.channel import (
    ENTRY_CHOICE,
    ENTRY_PAGE,
    REPLY_LINK_LIFETIME,
    Capabilities,
    Inbound,
    Kind,
    Outcome,
)
from bot import dispatcher
from bot.deadlines import Overdue, within
from bot.dispatcher import Dispatcher
from bot.handlers import Flows, Handlers
from bot.notifications import Notifier
from bot.sequence import Sequence
from bot.turn import Notification, Services, Turn, Unprepared
from flows.commands import Command, command_in
from flows.flow import Flow, Step
from flows.messages import CATALOG, DEFAULT_LANG
from flows.problems import Invalid
from flows.redaction import has_card, recorded_reply, redact
from flows.replies import Choice, Reply
from flows.text import fold
from storage import (
    account_links,
    arrivals,
    conversations,
    entry_tokens,
    lockouts,
    members,
    outbox,
    transcripts,
)
from storage.database import aware
from storage.models import Conversation

logger = logging.getLogger(__name__)

#: Lockout counts run for this long before they are forgotten.
LOCKOUT_MEMORY = timedelta(minutes=30)
#: An event goes ahead of an earlier one of its chat that no worker has said it holds
#: for this long: the earlier one's worker is gone (its platform will redeliver it).
ARRIVAL_MEMORY = timedelta(seconds=5)
#: Seconds between a worker's reminders that it still holds an event (it waits for an
#: earlier one, or hashes a password), well within ARRIVAL_MEMORY.
STILL_HERE_EVERY = 1.0
_ORDER_POLL = 0.02  # seconds between looks at whether an earlier event was applied
_SEQUENCE_POLL = 0.004  # seconds to the first look again at whether earlier-numbered events arrived
#: Processed event ids are kept this long: far past Telegram's 24 hours of keeping an
#: undelivered update and LINE's redelivery window.
EVENT_MEMORY = timedelta(days=7)
#: Sent and failed outbox rows are kept this long after their outcome, then deleted
#: with what they carry (reply tokens, page tokens in buttons, sealed passcodes). It must
#: outlast every link a channel signed to a row (a LINE chart is fetched by its row id);
#: a day more covers the clocks of different hosts. Pending rows are never pruned.
OUTBOX_MEMORY = REPLY_LINK_LIFETIME + timedelta(days=1)
_PRUNE_BATCH = 1000  # rows deleted per transaction, so no prune holds locks for long
_PLAIN = Capabilities()
_CHAT_USER = "transcript-user"  # the vault purpose of the transcript's chat user hash
#: The vault purpose of the secure-entry page's tokens (kept as keyed hashes).
ENTRY_PURPOSE = "entry-token"
#: How long a secure-entry page may be used after it was offered.
ENTRY_LIFETIME = timedelta(minutes=10)
#: Said once where card data was typed in a chat that keeps it, though the page was offered.
TYPED_NOTICE = "card.typed_in_history"


#: Every way a database can be unavailable: refused, dropped, read-only (a standby after
#: a failover), pool exhausted, hung. The event is not applied; the platform redelivers.
UNAVAILABLE = (OperationalError, InterfaceError, InternalError, PoolTimeout, Overdue)


class _NotYet(Exception):
    """An earlier event of the chat is still waiting to be applied."""


class Engine:
    def __init__(
        self,
        services: Services,
        flows: Flows,
        capabilities: Mapping[str, Capabilities] | None = None,
        dispatch: Dispatcher | None = None,
    ) -> None:
        self.services = services
        self.flows = flows
        self.capabilities = dict(capabilities or {})
        self.dispatcher = dispatch or Dispatcher(services.database, services.clock)
        self.notifier = Notifier(services, self.dispatcher)
        self._sequences = {
            name: Sequence(channel.sequence_reach)
            for name, channel in self.capabilities.items()
            if channel.sequence_reach
        }

    async def handle(self, inbound: Inbound, *, route: Mapping[str, Any] | None = None) -> Outcome:
        """``route`` is how the channel reaches this chat (e.g. a Telegram chat id);
        when given, the replies are queued in the outbox in the turn's transaction.

        Whatever fails inside the turn rolls it back whole (the event id included, so a
        redelivery is handled afresh) and the member gets an apology, never a trace. A
        database that is unreachable, refuses, runs out of connections or does not answer
        within the turn deadline is raised instead: the channel answers 503 and the
        platform redelivers."""
        try:
            outcome, notifications, not_before = await within(
                self.services.turn_deadline, self._on_a_live_connection(inbound, route), what="turn"
            )
        except UNAVAILABLE:
            raise
        except Exception:
            # Cut: the event id comes from the request (the channels bound it, but a
            # log line must stay short whatever a future channel lets through).
            logger.exception(
                "turn failed channel=%.16s event=%.64s", inbound.channel, inbound.event_id
            )
            await self._give_up_turn(inbound)
            # The step is unknown now, so any text is treated as possibly secret.
            return Outcome(replies=[Reply("trouble")], failed=True, secret_input=bool(inbound.text))
        # Committed: from here on nothing may turn the answer into a 503.
        await self.notifier.send(outcome.conversation_id, (note.kind for note in notifications))
        await asyncio.sleep(max(0.0, not_before - time.monotonic()))
        return outcome

    async def expire_idle(self) -> int:
        """Wipe every unfinished conversation idle for longer than its flow allows, so
        card data does not outlive a member who walked away, and forget spent lockout
        counts; returns how many conversations were wiped."""
        now = self.services.clock()
        count = 0
        async with self.services.database.transaction() as session:
            for flow in self.flows:
                if flow.idle_limit is None or flow.closed is None:
                    continue
                count += await conversations.expire_idle(
                    session,
                    flow=flow.name,
                    states=flow.unfinished,
                    idle_since=now - flow.idle_limit,
                    closed=flow.closed,
                )
            await lockouts.prune(session, now, period=LOCKOUT_MEMORY)
        if count:
            logger.info("expired %s idle conversations", count)
        return count

    async def prune_events(self) -> int:
        """Forget processed event ids older than EVENT_MEMORY, outbox rows done for
        longer than OUTBOX_MEMORY (both in batches), arrivals no worker applied,
        account-link runs as old as the events and secure-entry tokens long lapsed;
        returns how many event ids. No platform redelivers an event that old."""
        now = self.services.clock()
        cutoff = now - EVENT_MEMORY
        pruned = await self._in_batches(
            lambda session: conversations.prune_events(session, before=cutoff, batch=_PRUNE_BATCH)
        )
        sent = await self._in_batches(
            lambda session: outbox.prune(session, before=now - OUTBOX_MEMORY, batch=_PRUNE_BATCH)
        )
        if sent:
            logger.info("pruned %s outbox rows", sent)
        async with self.services.database.transaction() as session:
            await arrivals.prune(session, before=now - 2 * ARRIVAL_MEMORY)
            await account_links.prune(session, before=cutoff)
            await entry_tokens.prune(session, before=now - 2 * ENTRY_LIFETIME)
        return pruned

    async def _in_batches(self, prune: Callable[[AsyncSession], Awaitable[int]]) -> int:
        """Run ``prune`` a transaction at a time until it deletes less than a batch."""
        total = 0
        while True:
            async with self.services.database.transaction() as session:
                count = await prune(session)
            total += count
            if count < _PRUNE_BATCH:
                return total

    async def _on_a_live_connection(
        self, inbound: Inbound, route: Mapping[str, Any] | None
    ) -> tuple[Outcome, list[Notification], float]:
        """The event in order, run once more if the database had dropped the pooled
        connection it took (a restart): the pool pings none before use, so the first
        statement finds out; the turn was rolled back whole, SQLAlchemy has renewed the
        pool, and the second run takes a fresh connection (or fails as any other)."""
        try:
            return await self._in_order(inbound, route)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            logger.warning("turn run again: the database had dropped its connection")
            return await self._in_order(inbound, route)

    async def _in_order(
        self, inbound: Inbound, route: Mapping[str, Any] | None
    ) -> tuple[Outcome, list[Notification], float]:
        """Events of one chat that arrive together, at any workers, are applied in the
        platform's order. Where the platform numbers its events (Telegram), an event
        goes straight into its turn, unregistered, once this worker's earlier events of
        the chat are done, every event numbered before it has arrived and none of the
        chat's waits elsewhere: most messages, in one transaction. Any other event
        registers its arrival, lets the others arrive (see :meth:`_arrive`), then waits
        while an earlier one of the chat is still waiting."""
        ordered = inbound.position is not None and self.services.order_window > 0
        if not ordered:
            return await self._applied(inbound, route, ordered=False)
        sequence = self._sequences.get(inbound.channel)
        if sequence is None:
            return await self._registered(inbound, route, {})
        async with sequence.hold(inbound.user_id, inbound.position or 0):
            prepared: dict[tuple[str, ...], Any] = {}
            try:
                return await self._turn(
                    inbound, route, ordered=True, registered=False, prepared=prepared
                )
            except _NotYet:
                return await self._registered(inbound, route, prepared)
            except Unprepared as slow:
                return await self._registered(inbound, route, prepared, slow)

    async def _registered(
        self,
        inbound: Inbound,
        route: Mapping[str, Any] | None,
        prepared: dict[tuple[str, ...], Any],
        slow: Unprepared | None = None,
    ) -> tuple[Outcome, list[Notification], float]:
        """The event applied in order, its arrival registered first: however long this
        worker holds it (waiting, or doing the ``slow`` work a step asked for), the
        chat's later events at any worker wait for it."""
        await self._arrive(inbound)
        reminding = asyncio.create_task(self._still_here(inbound))
        try:
            if slow is not None:
                await slow.prepare(prepared)
            return await self._applied(inbound, route, ordered=True, prepared=prepared)
        finally:
            reminding.cancel()

    async def _applied(
        self,
        inbound: Inbound,
        route: Mapping[str, Any] | None,
        *,
        ordered: bool,
        prepared: dict[tuple[str, ...], Any] | None = None,
    ) -> tuple[Outcome, list[Notification], float]:
        """The turn, tried again while an earlier event of the chat waits, and after the
        slow work a step asked for."""
        prepared = {} if prepared is None else prepared
        while True:
            try:
                return await self._turn(
                    inbound, route, ordered=ordered, registered=ordered, prepared=prepared
                )
            except _NotYet:
                await asyncio.sleep(_ORDER_POLL)
            except Unprepared as slow:  # rolled back: no lock or connection held meanwhile
                await slow.prepare(prepared)

    async def _arrive(self, inbound: Inbound) -> None:
        """Register the event's arrival, then give the chat's earlier events time to
        arrive too. Where the platform numbers every event one after another (Telegram),
        that is until the events numbered just before this one have arrived, at once
        for a lone message; elsewhere (LINE) it is the whole order window."""
        channel, position = inbound.channel, inbound.position or 0
        reach = self.capabilities.get(channel, _PLAIN).sequence_reach
        window = self.services.order_window
        async with self.services.database.transaction() as session:
            await arrivals.register(
                session, channel, inbound.user_id, inbound.event_id, position, self.services.clock()
            )
            if reach and await self._predecessors_arrived(session, inbound):
                return
        if not reach:
            await asyncio.sleep(window)
            return
        until, pause = time.monotonic() + window, _SEQUENCE_POLL
        while time.monotonic() < until:  # a gap left longer than the window is given up
            await asyncio.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause *= 2  # most wait a moment for another worker; few for a gap
            async with self.services.database.transaction() as session:
                if await self._predecessors_arrived(session, inbound):
                    return

    async def _earlier_waiting(
        self, session: AsyncSession, inbound: Inbound, now: datetime
    ) -> bool:
        """Whether an earlier event of the chat is still to be applied: held by this
        worker (where the channel numbers its events), or registered by any."""
        position, sequence = inbound.position or 0, self._sequences.get(inbound.channel)
        if sequence is not None and sequence.earlier_held(inbound.user_id, position):
            return True
        return await arrivals.earlier_waiting(
            session, inbound.channel, inbound.user_id, position, since=now - ARRIVAL_MEMORY
        )

    async def _predecessors_arrived(self, session: AsyncSession, inbound: Inbound) -> bool:
        """Whether the events numbered just before this one have arrived, on a channel
        that numbers its events one after another: asks the database only about those
        this worker has not seen."""
        sequence, position = self._sequences[inbound.channel], inbound.position or 0
        missing = sequence.missing(position)
        if missing:
            sequence.learn(
                await arrivals.arrived_among(session, inbound.channel, missing[0], position)
            )
        return not sequence.missing(position)

    async def _still_here(self, inbound: Inbound) -> None:
        """Say every STILL_HERE_EVERY seconds that this worker holds the event."""
        while True:
            await asyncio.sleep(STILL_HERE_EVERY)
            try:
                async with self.services.database.transaction() as session:
                    await arrivals.still_here(
                        session,
                        inbound.channel,
                        inbound.user_id,
                        inbound.event_id,
                        self.services.clock(),
                    )
            except Exception as error:  # the turn itself finds the database away
                logger.warning("could not renew an arrival: %s", type(error).__name__)

    async def _give_up_turn(self, inbound: Inbound) -> None:
        """A failed event no longer holds back the events after it."""
        try:
            async with self.services.database.transaction() as session:
                await arrivals.done(session, inbound.channel, inbound.user_id, inbound.event_id)
        except Exception as error:  # it lapses after ARRIVAL_MEMORY anyway
            logger.warning("could not release a failed event: %s", type(error).__name__)

    async def _turn(
        self,
        inbound: Inbound,
        route: Mapping[str, Any] | None,
        *,
        ordered: bool,
        registered: bool,
        prepared: dict[tuple[str, ...], Any],
    ) -> tuple[Outcome, list[Notification], float]:
        """The event applied in one transaction: its outcome, the SMS and mail to send
        after the commit, and the time.monotonic() before which the answer may not
        leave (a card check answers no sooner than its floor). ``ordered``: after the
        chat's earlier events; ``registered``: its arrival is registered (and removed
        here), else it goes only when the events numbered before it have arrived."""
        now = self.services.clock()
        async with self.services.database.transaction() as session:
            if registered:
                await arrivals.done(session, inbound.channel, inbound.user_id, inbound.event_id)
            elif ordered and not await self._predecessors_arrived(session, inbound):
                raise _NotYet
            claimed = await conversations.claim_event(
                session, inbound.channel, inbound.event_id, now, inbound.position
            )
            if not claimed:
                return Outcome(duplicate=True), [], 0.0
            row, created = await self._lock(session, inbound, now)
            if ordered and await self._earlier_waiting(session, inbound, now):
                raise _NotYet  # rolls back: the event is claimed and applied later
            turn = self._begin(session, row, inbound, now)
            turn.prepared = prepared
            before, handled = turn.dialogue.state, turn.flow
            asked = turn.flow.steps[before]  # the question this event answers
            idle = now - aware(row.updated_at)
            # Every message with something to answer counts against the rate limit.
            counted = inbound.kind not in (Kind.LEFT, Kind.UNSENT)
            sent = conversations.minute_count(row, now) + 1
            throttled = await self._apply(turn, inbound, created, idle, sent)
            command = _command_in(inbound)
            secret = turn.possibly_secret or (
                asked.secret is not None and inbound.text is not None and not command
            )
            # A card number is card data wherever it was typed: deleted where the channel can.
            secret = secret or (inbound.text is not None and has_card(inbound.text))
            secret = secret or inbound.entry is not None
            # The row's changes are written in one UPDATE when the transaction commits.
            self._save(row, turn, now)
            if counted:
                conversations.count_message(row, now)
            if turn.asked and inbound.channel in self.services.entry_channels:
                await self._offer_entry(session, row, turn, now)
            await transcripts.record(
                session,
                transcripts.Turn(
                    conversation_id=row.id,
                    at=now,
                    channel=inbound.channel,
                    chat_user=self.services.vault.index(
                        f"{inbound.channel}:{inbound.user_id}", _CHAT_USER
                    ),
                    flow=handled.name,
                    flow_version=handled.version,
                    state_before=before,
                    state_after=turn.dialogue.state,
                ),
                _event(turn, inbound, asked, secret, command, throttled),
                [recorded_reply(reply) for reply in turn.replies],
            )
            leased = []
            if route is not None:
                # Sent right after the commit by this worker, when it sends this channel's.
                lease = self.dispatcher.sends(inbound.channel)
                leased = await dispatcher.queue(
                    session, row, route=route, replies=turn.replies, at=now, lease=lease
                )
            await self.notifier.queue(session, row.id, row.lang, turn.notifications, now)
        self.dispatcher.hold(leased)
        outcome = Outcome(
            replies=turn.replies,
            state=row.state,
            flow=row.flow,
            conversation_id=row.id,
            lang=row.lang,
            secret_input=secret,
            asked=turn.asked,
        )
        return outcome, turn.notifications, turn.answer_not_before

    async def _lock(
        self, session: AsyncSession, inbound: Inbound, now: datetime
    ) -> tuple[Conversation, bool]:
        entry = self.flows.entry
        row, created = await conversations.lock(
            session,
            inbound.channel,
            inbound.user_id,
            flow=entry.name,
            state=entry.start,
            lang=inbound.lang if inbound.lang in CATALOG else DEFAULT_LANG,
            at=now,
        )
        if inbound.lang in CATALOG and not row.lang_chosen:
            row.lang = inbound.lang
        return row, created

    def _begin(
        self, session: AsyncSession, row: Conversation, inbound: Inbound, now: datetime
    ) -> Turn:
        flow, state, slots = self.flows[row.flow].flow, row.state, row.slots
        if state in flow.exits:  # left by a worker of an older release: hand over now
            flow = self.flows[flow.exits[state]].flow
            state = flow.start
        elif state not in flow.steps:  # nothing it kept can be trusted: start afresh
            logger.warning("conversation %s: %s has no state %.32s", row.id, flow.name, state)
            flow, state, slots = self.flows.entry, self.flows.entry.start, {}
        return Turn(
            services=self.services,
            session=session,
            flow=flow,
            dialogue=flow.model(state, copy.deepcopy(slots)),
            conversation_id=row.id,
            channel=inbound.channel,
            user_id=inbound.user_id,
            lang=row.lang,
            now=now,
        )

    async def _offer_entry(
        self, session: AsyncSession, row: Conversation, turn: Turn, now: datetime
    ) -> None:
        """Where the question now due takes card data or a password, its first button
        opens the secure-entry page with a token for this conversation at this step."""
        if not turn.flow.steps[row.state].entry:
            return
        token = secrets.token_urlsafe(32)
        await entry_tokens.issue(session, row, self.services.vault.index(token, ENTRY_PURPOSE), now)
        button = Choice(ENTRY_CHOICE, "choice.entry", url=f"{ENTRY_PAGE}?token={token}")
        question = turn.replies[-1]
        turn.replies[-1] = replace(question, choices=(button, *question.choices))

    def _save(self, row: Conversation, turn: Turn, now: datetime) -> None:
        unknown = set(turn.dialogue.slots) - turn.flow.slot_names
        if unknown:  # a handler kept something its flow does not declare
            raise ValueError(f"flow {turn.flow.name} declares no slot {sorted(unknown)}")
        logger.info(
            "turn conversation=%s %s:%s -> %s:%s",
            row.id,
            row.flow,
            row.state,
            turn.flow.name,
            turn.dialogue.state,
        )
        row.flow = turn.flow.name
        row.state = turn.dialogue.state
        row.slots = turn.dialogue.slots
        row.updated_at = now

    async def _apply(
        self, turn: Turn, inbound: Inbound, created: bool, idle: timedelta, sent: int
    ) -> bool:
        """Run the event against the conversation, the chat user's ``sent``-th message
        this minute; True when it was over the rate limit."""
        if inbound.kind is Kind.LEFT:  # an unfinished conversation ends, silently
            turn.flow.cancel(turn.dialogue)
            return False
        if inbound.kind is Kind.UNSENT:  # only recorded
            return False
        limit = self.services.rate_limit
        if sent > limit:
            if sent == limit + 1:  # said once a minute, not every time
                turn.say("slow_down")
            return True
        asked = turn.flow.steps[turn.dialogue.state]
        await self._step(turn, inbound, created=created, idle=idle)
        await self._back_to_linked(turn)
        if not _answered_on_the_page(turn, inbound):
            _ask(turn)  # every event that is handled ends with the question now due
        if self.capabilities.get(inbound.channel, _PLAIN).keeps_history:
            typed = asked if turn.redacted and inbound.entry is None else None
            if inbound.channel in self.services.entry_channels:
                await _warn_typed(turn, typed)
            else:
                await _warn_history(turn, answered=typed)
        return False

    async def _step(self, turn: Turn, inbound: Inbound, *, created: bool, idle: timedelta) -> None:
        flow, dialogue = turn.flow, turn.dialogue
        command = _command_in(inbound)
        if inbound.kind is Kind.LINKED:  # checked (and its nonce spent) whatever the chat
            if created:
                turn.say("welcome")
            return await self._account_linked(turn, inbound.data)
        if created:
            turn.say("welcome")
            if inbound.kind is not Kind.MESSAGE or command is not None:
                return
            # The first message may already answer the first question: take it.
            return await self._answer(turn, inbound, quiet=True)
        if _expired(flow, dialogue.state, dialogue.slots, idle):
            self._restart(turn)
            turn.say("expired")
            return
        if inbound.entry is not None and inbound.entry.step != f"{flow.name}:{dialogue.state}":
            # The conversation moved on since the page was filled in: nothing is taken.
            turn.redacted, turn.possibly_secret = "⟨entry:stale⟩", True
            turn.say("entry.stale")
            return
        if inbound.kind is Kind.OPENED:
            if flow.ended(dialogue.state):  # back after an ending: as good as new
                self._restart(turn)
                turn.say("welcome")
            else:
                turn.say("welcome.back")
            return
        if command is not None:
            return self._command(turn, command)
        if inbound.choice == ENTRY_CHOICE:  # pressed where the page cannot open: ask anew
            return
        await self._answer(turn, inbound)

    async def _account_linked(self, turn: Turn, nonce: str | None) -> None:
        """The platform's account linking ended: the flow that links accounts checks
        it, whatever the conversation is doing, and hands over where it ends."""
        unit = self.flows.linking
        if unit is None or unit.linked is None:
            return
        await unit.linked(turn, nonce)
        await self._hand_over(turn)

    async def _answer(self, turn: Turn, inbound: Inbound, *, quiet: bool = False) -> None:
        """Run the step's handler on the member's answer.
        ``quiet``: an answer that is no answer is not told so (a first "hello")."""
        flow, dialogue = turn.flow, turn.dialogue
        step = flow.steps[dialogue.state]
        # Every button of the step is understood, also one no longer shown (pressed on
        # an older message): its handler says why it cannot be done now.
        answer = None if inbound.entry is not None else _choice(step.choices, inbound)
        if answer is None and await self._linked_only(turn, inbound.choice):
            turn.say("member.not_linked")
            return
        if answer is None and (not step.free_text or inbound.text is None):
            # Text where only buttons are understood may be anything, a PIN included.
            turn.redacted = f"⟨text:{len(inbound.text or '')}⟩"
            turn.possibly_secret = inbound.text is not None
            if not quiet:
                turn.say("unreadable" if step.free_text or not step.choices else "choose.one")
            return
        try:
            event = await self.flows[flow.name][dialogue.state](turn, answer or inbound.text or "")
        except Invalid as invalid:
            # Refused input is kept as what was wrong with it, never as typed: a secret in
            # the wrong field is refused too.
            turn.redacted = turn.redacted or "⟨invalid:{}⟩".format(
                "+".join(problem.key for problem in invalid.problems)
            )
            if not quiet:
                turn.replies.extend(Reply(p.key, p.params) for p in invalid.problems)
            return
        if event is not None:
            flow.trigger(event, dialogue)
            await self._hand_over(turn)

    async def _linked_only(self, turn: Turn, choice: str | None) -> bool:
        """A button of the linked members' flow (a LINE rich menu's, an old message's)
        pressed by a chat that is not linked: it is shown nothing."""
        linked = self.flows.linked
        if choice is None or linked is None or turn.flow is linked.flow:
            return False
        home = linked.flow.steps[linked.flow.start]
        if not any(offered.data == choice for offered in home.choices):
            return False
        return await members.linked(turn.session, turn.channel, turn.user_id) is None

    def _command(self, turn: Turn, command: Command) -> None:
        dialogue = turn.dialogue
        if command is Command.HELP:
            turn.say(turn.flow.steps[dialogue.state].help)
        elif command is Command.START:
            # Only what an unfinished conversation held is erased, and only then said so.
            erasing = dialogue.state in turn.flow.unfinished and bool(dialogue.slots)
            self._restart(turn)
            turn.say("restarted" if erasing else "welcome")
        elif turn.flow.cancel(dialogue):
            turn.say("cancelled")
        else:
            turn.say("nothing_to_cancel")

    def _restart(self, turn: Turn) -> None:
        """Back to the start of the entry flow with nothing kept."""
        entry = self.flows.entry
        turn.flow = entry
        turn.dialogue = entry.model(entry.start, {})

    async def _hand_over(self, turn: Turn) -> None:
        """Where the flow ends in an exit, the next flow takes the conversation (and the
        slots the last step left) from its start."""
        target = turn.flow.exits.get(turn.dialogue.state)
        if target is not None:
            await _enter(turn, self.flows[target])

    async def _back_to_linked(self, turn: Turn) -> None:
        """An enrollment or a sign-in that a linked member began and that ended
        (cancelled, declined, refused, a re-check not passed) returns the chat to the
        member's flow, not to a dead end; that flow checks the link again itself."""
        linked, flow = self.flows.linked, turn.flow
        if linked is None or flow is linked.flow or turn.dialogue.state != flow.closed:
            return
        if await members.linked(turn.session, turn.channel, turn.user_id) is None:
            return
        turn.dialogue.wipe()
        await _enter(turn, linked)


async def _enter(turn: Turn, unit: Handlers) -> None:
    turn.flow = unit.flow
    turn.dialogue = unit.flow.model(str(unit.flow.start), turn.dialogue.slots)
    if unit.enter is not None:
        await unit.enter(turn)


def _expired(flow: Flow, state: str, slots: dict[str, Any], idle: timedelta) -> bool:
    """Wiped by the idle sweep, or idle too long to go on (the sweep has not run yet)."""
    if slots.get(conversations.EXPIRED):
        return True
    return (
        flow.idle_limit is not None
        and state in flow.unfinished
        and bool(slots)
        and idle > flow.idle_limit
    )


async def _warn_history(turn: Turn, *, answered: Step | None) -> None:
    """The member's messages stay in the chat: before the conversation's first question
    that takes card data, say so once and suggest taking it back afterwards; if card
    data came before that question was ever asked (in a first message), say so now."""
    step = turn.flow.steps[turn.dialogue.state]
    at = next((i for i, reply in enumerate(turn.replies) if reply.key == step.prompt), None)
    if step.history_notice is None or at is None:
        step = answered or step
        at = 1 if turn.replies and turn.replies[0].key == "welcome" else 0
    notice = step.history_notice
    if notice is None or await conversations.said(turn.session, turn.conversation_id, notice):
        return
    turn.replies.insert(at, Reply(notice))


async def _warn_typed(turn: Turn, typed: Step | None) -> None:
    """Where the secure-entry page is offered, nothing needs saying before the card
    question; card data typed in the chat all the same stays in its history: say so
    once, after it was typed, and how to take it back."""
    if typed is None or typed.history_notice is None:
        return
    if await conversations.said(turn.session, turn.conversation_id, TYPED_NOTICE):
        return
    at = 1 if turn.replies and turn.replies[0].key == "welcome" else 0
    turn.replies.insert(at, Reply(TYPED_NOTICE))


def _choice(choices: tuple[Choice, ...], inbound: Inbound) -> str | None:
    """The data of the chosen button: pressed, or its label typed in any language."""
    if inbound.choice is not None:
        return inbound.choice if any(c.data == inbound.choice for c in choices) else None
    typed = fold(inbound.text or "").casefold()
    for choice in choices:
        labels = {catalog[choice.label].casefold() for catalog in CATALOG.values()}
        if typed == choice.data or typed in labels:
            return choice.data
    return None


def _answered_on_the_page(turn: Turn, inbound: Inbound) -> bool:
    """Whether the question now due is answered by the secure-entry page's next field,
    which follows at once: it is not asked in between."""
    then = inbound.entry.then if inbound.entry else None
    return then is not None and turn.flow.steps[turn.dialogue.state].entry[:1] == (then,)


def _command_in(inbound: Inbound) -> Command | None:
    """The command typed in the chat; what the secure-entry page sends is never one."""
    if inbound.text is None or inbound.entry is not None:
        return None
    return command_in(inbound.text)


def _ask(turn: Turn) -> None:
    step = turn.flow.steps[turn.dialogue.state]
    slots = turn.dialogue.slots
    sensitive = step.secret is not None
    turn.replies.append(
        Reply(step.prompt, step.params(slots), step.offered(slots), sensitive, secret=step.secret)
    )
    turn.asked = True


def _event(
    turn: Turn,
    inbound: Inbound,
    asked: Step,
    secret: bool,
    command: Command | None,
    throttled: bool,
) -> dict[str, object]:
    """The member's event as the transcript keeps it: a pressed button as its data (a
    button's data as it is; redacted like text, since a client may send anything), a
    command by name, text redacted (a secret by its placeholder), anything else by kind."""
    if throttled:
        return {"throttled": True}
    if inbound.choice is not None:  # any data a client sent, a card number included
        return {"choice": redact(inbound.choice)}
    if command is not None:
        return {"command": command.value}
    if inbound.entry is not None:  # typed into the secure-entry page
        typed = {"text": turn.redacted or f"⟨{asked.secret or 'entry'}⟩", "entry": True}
        return typed | ({"entry_next": inbound.entry.then} if inbound.entry.then else {})
    if inbound.text is not None:
        if turn.redacted:
            return {"text": turn.redacted}
        return {"text": f"⟨{asked.secret}⟩" if secret and asked.secret else redact(inbound.text)}
    if inbound.kind is not Kind.MESSAGE:
        return {inbound.kind.value: True}
    return {"unreadable": True}  # a sticker, a photo or anything else without text
