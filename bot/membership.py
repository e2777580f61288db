"""The member flow's handlers. The member services fill them in; until then every
message is answered with the member's linked card and ID."""

from bot.handlers import Handlers
from bot.turn import Turn
from flows.membership import MEMBERSHIP, State
from storage import members


async def home(turn: Turn, answer: str) -> None:
    return None


async def _enter(turn: Turn) -> None:
    """What the member's questions show: the linked card and Net Answer ID."""
    member = await members.linked(turn.session, turn.channel, turn.user_id)
    if member is not None:
        turn.slots.update(netid=member.net_answer_id, card_masked=member.card_masked)


HANDLERS = Handlers(MEMBERSHIP, {State.HOME: home}, enter=_enter)
