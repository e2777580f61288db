"""What operators see and do about the chats linked to a member: the list (channel,
masked chat user, when linked, when last used) and ending every link at once, for a
member who lost a phone. Each is written to the audit log (``storage/audit.py``) with
the operator's login name, in the transaction that does it."""

import getpass
from dataclasses import dataclass
from datetime import datetime

from storage import audit, members
from storage.database import Database, aware

_SHOWN = 4  # last characters of a chat user id shown


@dataclass(frozen=True)
class Link:
    channel: str
    user: str  # masked
    linked_at: datetime
    last_used: datetime | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "user": self.user,
            "linked_at": self.linked_at.isoformat(),
            "last_used": self.last_used.isoformat() if self.last_used else None,
        }


async def listing(database: Database, net_answer_id: str, now: datetime) -> list[Link] | None:
    """The member's chat links, oldest first; None when no member has this ID."""
    async with database.transaction() as session:
        member = await members.by_net_answer_id(session, net_answer_id)
        found = [] if member is None else await members.chats(session, member)
        audit.record(
            session,
            now,
            "members links",
            net_answer_id,
            operator=_operator(),
            member=member is not None,
            links=len(found),
        )
    if member is None:
        return None
    return [
        Link(
            chat.channel,
            mask(chat.user_id),
            aware(chat.linked_at),
            aware(chat.last_used_at) if chat.last_used_at else None,
        )
        for chat in found
    ]


async def unlink_all(database: Database, net_answer_id: str, now: datetime) -> int | None:
    """End every chat link of the member; how many there were, None for an unknown ID."""
    async with database.transaction() as session:
        member = await members.by_net_answer_id(session, net_answer_id)
        count = 0 if member is None else await members.unlink_all(session, member)
        audit.record(
            session,
            now,
            "members unlink --all",
            net_answer_id,
            operator=_operator(),
            member=member is not None,
            unlinked=count,
        )
    return None if member is None else count


def mask(user_id: str) -> str:
    """Enough of a chat user id to tell two chats apart, not to find the person."""
    if len(user_id) <= 2 * _SHOWN:
        return "*" * len(user_id)
    return "*" * (len(user_id) - _SHOWN) + user_id[-_SHOWN:]


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment
        return "unknown"
