"""The member's own data that a password or an ID must not contain."""

from dataclasses import dataclass
from datetime import date

from flows.text import strip_separators

_PHONE_TAIL = 4


@dataclass(frozen=True)
class Personal:
    birth_date: date
    phone: str

    @classmethod
    def of(cls, birth_date: date, phone_text: str) -> "Personal":
        """Normalise a phone number as the issuer or the member writes it to digits only.

        Raises ValueError (without the number) when it is not a phone number.
        """
        phone = strip_separators(phone_text).replace("(", "").replace(")", "")
        if phone.startswith("+81"):
            phone = "0" + phone[3:]
        if not (phone.isascii() and phone.isdigit()):
            raise ValueError("phone number must be digits, spaces, hyphens or +81")
        return cls(birth_date, phone)

    def fragments(self) -> list[tuple[str, str]]:
        birth = self.birth_date
        pairs = [
            ("birth", birth.strftime("%Y%m%d")),
            ("birth", birth.strftime("%y%m%d")),
            ("birth", birth.strftime("%m%d")),
            ("birth", f"{birth.year:04d}"),
        ]
        if self.phone:
            pairs.append(("phone", self.phone))
            pairs.append(("phone", self.phone[-_PHONE_TAIL:]))
        return pairs

    def collisions(self, text: str) -> set[str]:
        return {rule for rule, fragment in self.fragments() if fragment in text}
