"""The member's email addresses: one or two, PC and/or mobile."""

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from flows.problems import Invalid, Problem
from flows.text import fold

MAX_ADDRESSES = 2
# Japanese carrier mail domains (a subdomain counts too, e.g. "t.vodafone.ne.jp").
_CARRIER_DOMAINS = (
    "docomo.ne.jp",
    "ezweb.ne.jp",
    "biz.ezweb.ne.jp",
    "au.com",
    "biz.au.com",
    "softbank.ne.jp",
    "i.softbank.jp",
    "vodafone.ne.jp",
    "disney.ne.jp",
    "ymobile.ne.jp",
    "y-mobile.ne.jp",
    "ymobile1.ne.jp",
    "emobile.ne.jp",
    "emobile-s.ne.jp",
    "willcom.com",
    "pdx.ne.jp",
    "wcm.ne.jp",
    "rakumail.jp",
    "uqmobile.jp",
)
_SEPARATORS = re.compile(r"[\s,、;]+")
# Old docomo / au addresses: these characters only, dots anywhere and repeated.
_LEGACY_LOCAL = re.compile(r"[A-Za-z0-9._+\-]{1,64}")
_DOTS = re.compile(r"\.+")


@dataclass(frozen=True)
class Email:
    address: str
    mobile: bool
    legacy: bool

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]


def _is_carrier(domain: str) -> bool:
    return any(domain == carrier or domain.endswith("." + carrier) for carrier in _CARRIER_DOMAINS)


def _validate(address: str) -> str | None:
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    # The issuer's form takes half-width addresses only, so no internationalised domains.
    return result.normalized if result.normalized.isascii() else None


def _legacy(address: str) -> Email | None:
    """Accept a carrier address whose only fault is where its dots are (RFC 5322 refuses them)."""
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    if not at or not _is_carrier(domain) or not _LEGACY_LOCAL.fullmatch(local):
        return None
    tidy_local = _DOTS.sub(".", local).strip(".")
    if not tidy_local or _validate(f"{tidy_local}@{domain}") is None:
        return None
    return Email(f"{local}@{domain}", mobile=True, legacy=True)


def _parse_one(address: str) -> Email | None:
    normalized = _validate(address)
    if normalized is not None:
        domain = normalized.rpartition("@")[2]
        return Email(normalized, mobile=_is_carrier(domain), legacy=False)
    return _legacy(address)


def parse_emails(text: str) -> list[Email]:
    addresses = [token for token in _SEPARATORS.split(fold(text)) if token]
    if not addresses:
        raise Invalid(Problem("email.empty"))
    if len(addresses) > MAX_ADDRESSES:
        raise Invalid(Problem("email.too_many", {"max": MAX_ADDRESSES}))
    problems: list[Problem] = []
    emails: list[Email] = []
    for position, address in enumerate(addresses, start=1):
        email = _parse_one(address)
        if email is None:
            # Named by position, never echoed: what was typed may be a password.
            problems.append(Problem("email.invalid", {"position": position}))
        else:
            emails.append(email)
    if len(emails) == 2 and emails[0].address.lower() == emails[1].address.lower():
        problems.append(Problem("email.duplicate"))
    if problems:
        raise Invalid(*problems)
    return emails
