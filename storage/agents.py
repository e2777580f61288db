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


async def disable(session: AsyncSession, name: str, at: datetime) -> Agent | None:
    """Disable the agent and void every session signed so far; None for no such agent."""
    agent = await find(session, name)
    if agent is not None and agent.disabled_at is None:
        agent.disabled_at = at
        agent.session_epoch += 1
        await session.flush()
    return agent


async def enable(session: AsyncSession, name: str) -> Agent | None:
    """Let a disabled agent sign in again; None for no such agent."""
    agent = await find(session, name)
    if agent is not None and agent.disabled_at is not None:
        agent.disabled_at = None
        await session.flush()
    return agent
