"""Support agents' accounts: a name and an argon2 hash of the password, nothing else."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Agent


async def find(session: AsyncSession, name: str) -> Agent | None:
    return (await session.execute(select(Agent).where(Agent.name == name))).scalar_one_or_none()


async def add(session: AsyncSession, name: str, password_hash: str, at: datetime) -> Agent | None:
    """The new agent; None when the name is taken."""
    if await find(session, name) is not None:
        return None
    agent = Agent(name=name, password_hash=password_hash, created_at=at)
    session.add(agent)
    await session.flush()
    return agent
