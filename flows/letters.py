"""A mail as the member reads it: a subject and one body, as plain text and as HTML.

Both come from the message catalog: a mail key ``mail.X`` is the plain body and
``mail.X.subject`` its subject, in the member's language. The HTML alternative is the
same text, escaped, a paragraph per blank-line-separated block, so the two never say
different things.
"""

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

from flows.messages import text
from flows.replies import Param


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str = field(repr=False)  # may hold a passcode: never printed
    html: str = field(repr=False)


def letter(key: str, lang: str, params: Mapping[str, Param] | None = None) -> Letter:
    subject = text(f"{key}.subject", lang, params)
    body = text(key, lang, params)
    return Letter(subject, body, _html(subject, body, lang))


def _html(subject: str, body: str, lang: str) -> str:
    paragraphs = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in block.splitlines()) + "</p>"
        for block in body.split("\n\n")
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n<body>\n{paragraphs}\n</body>\n</html>\n"
    )
