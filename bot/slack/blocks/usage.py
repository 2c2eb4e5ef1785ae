"""The right form of every `/quota` command, as help and usage errors show it."""

from __future__ import annotations

from .text import escape

_FORMS = {
    "list": "/quota list",
    "quota": "/quota <alias>",
    "link": "/quota link <alias> <application-id> [--workspace]",
    "unlink": "/quota unlink <alias> [--workspace]",
    "token": "/quota token",
    "admins": "/quota admins [add|remove @user]",
    "audit": "/quota audit [alias]",
    "digest": "/quota digest daily|weekdays HH:MM [Area/City]",
    "digest weekly": "/quota digest weekly mon|tue|wed|thu|fri|sat|sun HH:MM [Area/City]",
    "digest off": "/quota digest off",
    "digest now": "/quota digest now",
    "alert": "/quota alert <alias> below <amount>|<N>%",
    "alert off": "/quota alert <alias> off",
    "alert spike": "/quota alert <alias> spike [N]|off",
    "usage": "/quota usage <alias> [today|7d|30d]",
    "keys": "/quota keys <alias>",
    "policy": "/quota policy [approval on|off]",
    "help": "/quota help",
}
# The right forms, escaped for mrkdwn (where `<alias>` would otherwise be a link).
USAGE = {form: escape(text) for form, text in _FORMS.items()}
