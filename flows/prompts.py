"""The values a step's question shows, taken from what the member entered so far.

Only display-safe slots are read: masked card, expiry, ID, addresses. The security
code and the password are never in the slots, so they can never be shown.
"""

from collections.abc import Mapping
from typing import Any

from flows.cards import Brand
from flows.enrollment import TERMS_VERSION


def prompt_params(state: str, slots: Mapping[str, Any]) -> dict[str, str | int]:
    if state == "code":
        brand = Brand(slots["brand"])
        side = "value.side.front" if brand.code_on_front else "value.side.back"
        return {"digits": brand.code_length, "brand": brand.label, "side": side}
    if state == "terms":
        return {"version": TERMS_VERSION}
    if state == "confirm":
        return {
            "card": slots["card_masked"],
            "expiry": slots["expiry"],
            "netid": slots.get("netid") or "value.netid.issued",
            "emails": " / ".join(email["address"] for email in slots["emails"]),
            "newsletter": "value.yes" if slots.get("newsletter") else "value.no",
        }
    if state == "otp":
        return {"to": slots["otp"]["to"], "via": f"value.via.{slots['otp']['via']}"}
    if state == "call":
        return dict(slots["call"])
    if state == "member":
        return {"netid": slots.get("netid", ""), "card": slots.get("card_masked", "")}
    return {}
