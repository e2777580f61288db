"""What the server's own HTML pages (LINE's sign-in page, the secure-entry page, the
support console) check in a POST: a small urlencoded form, the origin it came from, and
its CSRF token (the double-submit kind: in a field and in a cookie); and the headers
of a page that takes secrets."""

import hmac
from urllib.parse import parse_qs, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import Response

#: The templates of the server's own pages (``bot/templates/``), escaped, strict.
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("bot", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def parsed(body: bytes, *, fields: int, limit: int) -> dict[str, str]:
    """The urlencoded form, each field once and at most ``limit`` characters; anything
    else counts as empty."""
    try:
        found = parse_qs(body.decode("utf-8"), max_num_fields=fields)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {
        name: values[0]
        for name, values in found.items()
        if len(values) == 1 and len(values[0]) <= limit
    }


def sent_from(request: Request, scheme: str, netloc: str) -> bool:
    """Whether the request names this origin (scheme and host) as where it came from:
    its ``Origin`` header, else its ``Referer``."""
    sent = urlsplit(request.headers.get("origin") or request.headers.get("referer") or "")
    return bool(sent.netloc) and (sent.scheme, sent.netloc) == (scheme, netloc)


def not_cross_site(request: Request, scheme: str, netloc: str) -> bool:
    """For a page served with ``Referrer-Policy: no-referrer``: browsers then send a
    form's POST with ``Origin: null`` and no ``Referer``, so it is refused when it names
    another origin, or when the browser says it was sent from another site
    (``Sec-Fetch-Site``); the form's own CSRF token proves the rest."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    named = request.headers.get("origin") or request.headers.get("referer") or "null"
    return named == "null" or sent_from(request, scheme, netloc)


def token_holds(request: Request, cookie: str, posted: str) -> bool:
    """The form's CSRF token is the one in its cookie."""
    kept = request.cookies.get(cookie, "")
    return bool(kept and posted) and hmac.compare_digest(kept.encode(), posted.encode())


def no_store(response: Response, *, referrer: str = "no-referrer") -> Response:
    """A page that holds a form for secrets: never cached, its address (which carries
    a token) never sent on as a referrer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = referrer
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
