"""Every flow and channel the application runs, one line each. A new conversation
starts in the first flow; the server offers every channel configured in the
environment (the terminal is opened by ``netanswer-bot chat``)."""

from adapters.channels.channel import Channel
from adapters.channels.line import Line
from adapters.channels.telegram import Telegram
from adapters.channels.web import Web
from bot import enrollment, membership, signin
from bot.handlers import Flows

FLOWS = Flows(
    enrollment.HANDLERS, membership.HANDLERS, signin.HANDLERS, linked=membership.HANDLERS.flow.name
)

CHANNELS: tuple[type[Channel], ...] = (Telegram, Line, Web)
