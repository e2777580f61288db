"""Commands that work in every state, typed as /command or as a Japanese keyword."""

from enum import StrEnum

from flows.text import fold


class Command(StrEnum):
    START = "start"
    CANCEL = "cancel"
    HELP = "help"


_WORDS = {
    Command.START: ("/start", "はじめから", "最初から", "スタート", "登録", "start"),
    Command.CANCEL: ("/cancel", "キャンセル", "中止", "やめる", "cancel"),
    Command.HELP: ("/help", "ヘルプ", "使い方", "help", "?", "？"),
}
_LOOKUP = {word: command for command, words in _WORDS.items() for word in words}


def command_in(text: str) -> Command | None:
    """The command a message is, if the whole message is one (``/start@MyBot`` included)."""
    word = fold(text).casefold()
    if word.startswith("/"):
        word = word.split("@", 1)[0]
    return _LOOKUP.get(word)
