"""The member flow's handlers. The member services fill them in; until then every
message is answered with the member's linked card and ID."""

from bot.handlers import Handlers
from bot.turn import Turn
from flows.membership import MEMBERSHIP, State


async def home(turn: Turn, answer: str) -> None:
    return None


HANDLERS = Handlers(MEMBERSHIP, {State.HOME: home})
