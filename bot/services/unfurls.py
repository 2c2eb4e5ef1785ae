"""Console links to an application, and whether one may be unfurled where it was posted.

A link unfurls only for the workspace whose Ace Data Cloud account holds the application and
only in a channel where an alias of it is visible; otherwise nothing is said at all, so that a
link never reveals that an application exists."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ..db.database import Database
from .aliases import LinkedAlias, normalize_application_id, visible_aliases
from .errors import ServiceError

# /console/applications/<id>… and /console/usages?application_id=<id>…
_APPLICATION_PATH = re.compile(r"^/console/applications/([^/?#]+)")
_USAGES_PATH = re.compile(r"^/console/usages/?$")
MAX_LINKS = 5


def application_in(url: str, console: str) -> str | None:
    """The application a console link points to, or None for any other link (another host,
    another page, a malformed ID)."""
    try:
        link, home = urlsplit(url), urlsplit(console)
    except ValueError:
        return None
    if link.scheme not in ("http", "https") or link.hostname is None:
        return None
    if link.hostname.lower() != (home.hostname or "").lower() or link.port != home.port:
        return None
    found = _APPLICATION_PATH.match(link.path)
    if found is not None:
        raw = found.group(1)
    elif _USAGES_PATH.match(link.path):
        values = parse_qs(link.query).get("application_id") or [""]
        raw = values[0]
    else:
        return None
    try:
        return normalize_application_id(raw)
    except ServiceError:
        return None


def applications_in(urls: list[str], console: str) -> dict[str, str]:
    """The first few console links of a message, by URL, to their application (each
    application once)."""
    found: dict[str, str] = {}
    for url in urls:
        application_id = application_in(url, console)
        if application_id is not None and application_id not in found.values():
            found[url] = application_id
        if len(found) == MAX_LINKS:
            break
    return found


async def alias_here(
    db: Database, *, team_id: str, channel_id: str, application_id: str
) -> LinkedAlias | None:
    """An alias of `application_id` visible in the channel, if there is one."""
    for alias in await visible_aliases(db, team_id=team_id, channel_id=channel_id):
        if alias.application_id == application_id:
            return alias
    return None
