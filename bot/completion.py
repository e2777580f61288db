"""The end of an enrollment: the member is created, this chat is linked, the Net
Answer ID is shown and mailed, and only what the member state shows is kept."""

from datetime import datetime

from bot.turn import NotificationKind, Turn
from flows.netids import issue_net_answer_id
from storage import members


async def complete(turn: Turn) -> None:
    """Create the member, link this chat, mail the ID; keep only what the member state shows."""
    slots = turn.slots
    chosen = slots.get("netid")
    if chosen is None or await taken(turn, chosen):
        chosen = await _fresh_net_answer_id(turn)
    await members.register(
        turn.session,
        channel=turn.channel,
        user_id=turn.user_id,
        at=turn.now,
        net_answer_id=chosen,
        password_hash=slots["password_hash"],
        card_token=slots["card_token"],
        card_index=slots["card_index"],
        card_masked=slots["card_masked"],
        emails={"addresses": slots["emails"]},
        newsletter=bool(slots.get("newsletter")),
        terms_version=slots["terms"]["version"],
        terms_agreed_at=datetime.fromisoformat(slots["terms"]["at"]),
    )
    for address in slots["emails"]:
        turn.notify(NotificationKind.MAIL, address["address"], "mail.done", netid=chosen)
    turn.say("done", netid=chosen)
    card_masked = slots["card_masked"]
    slots.clear()
    slots.update(netid=chosen, card_masked=card_masked)


async def taken(turn: Turn, net_answer_id: str) -> bool:
    """Whether a member already has this ID: one enrolled here, or one the issuer
    registered before this bot (whose sign-in the ID would otherwise take over)."""
    if await members.net_answer_id_taken(turn.session, net_answer_id):
        return True
    return await turn.services.issuer.net_answer_id_taken(net_answer_id)


async def _fresh_net_answer_id(turn: Turn) -> str:
    personal = (await turn.holder()).personal
    while True:
        candidate = issue_net_answer_id(personal, turn.services.rng.choice)
        if not await taken(turn, candidate):
            return candidate
