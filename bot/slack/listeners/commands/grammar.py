"""The `/quota` grammar (design §2): command text in, a typed request or a UsageError out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import available_timezones

from ....services.alert_levels import Threshold
from ....services.aliases import (
    looks_like_application_id,
    normalize_alias,
    normalize_application_id,
)
from ....services.errors import InvalidAlias, InvalidApplicationId
from ....services.schedules import WEEKDAYS, Kind
from ....services.spikes import DEFAULT_FACTOR, MAX_FACTOR
from ....services.usage import PERIODS, Period
from ...blocks.text import quote_input
from ...blocks.usage import USAGE

MAX_TEXT_LENGTH = 300
WORKSPACE_FLAG = "--workspace"
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>")


class UsageError(Exception):
    """The text does not fit the grammar; `usage` is the form that would have."""

    def __init__(self, problem: str, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


@dataclass(frozen=True)
class ListAliases:
    pass


@dataclass(frozen=True)
class ShowAlias:
    alias: str


@dataclass(frozen=True)
class ShowApplication:
    application_id: str


@dataclass(frozen=True)
class LinkAlias:
    alias: str
    application_id: str
    workspace: bool


@dataclass(frozen=True)
class UnlinkAlias:
    alias: str
    workspace: bool


@dataclass(frozen=True)
class SetToken:
    pass


@dataclass(frozen=True)
class ListAdmins:
    pass


@dataclass(frozen=True)
class ChangeAdmin:
    user_id: str
    add: bool


@dataclass(frozen=True)
class ShowAudit:
    alias: str | None


@dataclass(frozen=True)
class ShowDigest:
    pass


@dataclass(frozen=True)
class SetDigest:
    kind: Kind
    at: time
    weekday: int | None
    zone: str | None  # None: the user's own time zone from Slack, else UTC


@dataclass(frozen=True)
class DigestOff:
    pass


@dataclass(frozen=True)
class DigestNow:
    pass


@dataclass(frozen=True)
class ListAlerts:
    pass


@dataclass(frozen=True)
class SetAlert:
    alias: str
    threshold: Threshold


@dataclass(frozen=True)
class AlertOff:
    alias: str


@dataclass(frozen=True)
class SetSpike:
    alias: str
    factor: Decimal


@dataclass(frozen=True)
class SpikeOff:
    alias: str


@dataclass(frozen=True)
class ShowUsage:
    alias: str
    period: Period


@dataclass(frozen=True)
class ListKeys:
    alias: str


@dataclass(frozen=True)
class ShowPolicy:
    pass


@dataclass(frozen=True)
class SetApproval:
    on: bool


@dataclass(frozen=True)
class ShowHelp:
    pass


QuotaRequest = (
    ListAliases
    | ShowAlias
    | ShowApplication
    | LinkAlias
    | UnlinkAlias
    | SetToken
    | ListAdmins
    | ChangeAdmin
    | ShowAudit
    | ShowDigest
    | SetDigest
    | DigestOff
    | DigestNow
    | ListAlerts
    | SetAlert
    | AlertOff
    | SetSpike
    | SpikeOff
    | ShowUsage
    | ListKeys
    | ShowPolicy
    | SetApproval
    | ShowHelp
)


def parse(text: str) -> QuotaRequest:
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"That is {len(text):,} characters; no /quota command is longer than "
            f"{MAX_TEXT_LENGTH}.",
            USAGE["help"],
        )
    words = text.split()
    if not words:
        return ListAliases()
    head, args = words[0].lower(), words[1:]
    match head:
        case "list":
            _no_more(args, "list")
            return ListAliases()
        case "help":
            return ShowHelp()
        case "token":
            _no_more(args, "token")
            return SetToken()
        case "link":
            return _link(args)
        case "unlink":
            return _unlink(args)
        case "admins":
            return _admins(args)
        case "audit":
            return _audit(args)
        case "digest":
            return _digest(args)
        case "alert":
            return _alert(args)
        case "usage":
            return _usage(args)
        case "keys":
            return _keys(args)
        case "policy":
            return _policy(args)
    _no_more(args, "quota")
    if looks_like_application_id(words[0]):
        return ShowApplication(_application_id(words[0]))
    return ShowAlias(_alias(words[0], "quota"))


def _no_more(args: list[str], form: str) -> None:
    if args:
        raise UsageError(f"Unexpected extra text: `{quote_input(' '.join(args))}`.", USAGE[form])


def _alias(raw: str, form: str, *, new: bool = False) -> str:
    try:
        return normalize_alias(raw, new=new)
    except InvalidAlias as exc:
        raise UsageError(
            f"`{quote_input(raw)}` is not a valid alias: {exc.reason}.", USAGE[form]
        ) from None


def _application_id(raw: str) -> str:
    try:
        return normalize_application_id(raw)
    except InvalidApplicationId:
        raise UsageError(
            f"`{quote_input(raw)}` is not an application ID. It looks like "
            "`107f8d0f-e465-4a7e-a49e-d633d26f7aa2`; copy it from "
            "https://platform.acedata.cloud/console/applications.",
            USAGE["link"],
        ) from None


def _split_flag(args: list[str]) -> tuple[list[str], bool]:
    flags = [arg for arg in args if arg.startswith("--")]
    unknown = [flag for flag in flags if flag.lower() != WORKSPACE_FLAG]
    if unknown:
        raise UsageError(
            f"Unknown option `{quote_input(unknown[0])}`; the only option is `{WORKSPACE_FLAG}`."
        )
    if len(flags) > 1:
        raise UsageError(f"`{WORKSPACE_FLAG}` was given more than once.")
    return [arg for arg in args if not arg.startswith("--")], bool(flags)


def _link(args: list[str]) -> LinkAlias:
    positional, workspace = _split_flag(args)
    if len(positional) != 2:
        problem = "Missing" if len(positional) < 2 else "Too many"
        raise UsageError(f"{problem} arguments for `link`.", USAGE["link"])
    return LinkAlias(
        _alias(positional[0], "link", new=True),
        _application_id(positional[1]),
        workspace=workspace,
    )


def _unlink(args: list[str]) -> UnlinkAlias:
    positional, workspace = _split_flag(args)
    if len(positional) != 1:
        problem = "Missing the alias" if not positional else "Too many arguments"
        raise UsageError(f"{problem} for `unlink`.", USAGE["unlink"])
    return UnlinkAlias(_alias(positional[0], "unlink"), workspace=workspace)


def _admins(args: list[str]) -> ListAdmins | ChangeAdmin:
    if not args:
        return ListAdmins()
    verb = args[0].lower()
    if verb not in {"add", "remove"} or len(args) != 2:
        raise UsageError(
            "`admins` takes `add @user` or `remove @user`, or nothing.", USAGE["admins"]
        )
    mention = USER_MENTION.fullmatch(args[1])
    if mention is None:
        raise UsageError(
            f"`{quote_input(args[1])}` is not a user mention; type @ and pick the person.",
            USAGE["admins"],
        )
    return ChangeAdmin(mention.group(1), add=verb == "add")


def _audit(args: list[str]) -> ShowAudit:
    if len(args) > 1:
        raise UsageError(
            f"Unexpected extra text: `{quote_input(' '.join(args[1:]))}`.", USAGE["audit"]
        )
    return ShowAudit(_alias(args[0], "audit") if args else None)


_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _digest(args: list[str]) -> ShowDigest | SetDigest | DigestOff | DigestNow:
    if not args:
        return ShowDigest()
    head, rest = args[0].lower(), args[1:]
    match head:
        case "off":
            _no_more(rest, "digest off")
            return DigestOff()
        case "now":
            _no_more(rest, "digest now")
            return DigestNow()
        case "daily" | "weekdays":
            return _digest_at(head, None, rest, "digest")
        case "weekly":
            if not rest or rest[0].lower() not in WEEKDAYS:
                shown = f"`{quote_input(rest[0])}` is not" if rest else "Missing"
                raise UsageError(f"{shown} a day of the week (mon … sun).", USAGE["digest weekly"])
            return _digest_at(head, WEEKDAYS.index(rest[0].lower()), rest[1:], "digest weekly")
    raise UsageError(
        f"`digest` takes daily, weekdays, weekly, off or now, not `{quote_input(args[0])}`.",
        USAGE["digest"],
    )


def _digest_at(kind: Kind, weekday: int | None, args: list[str], form: str) -> SetDigest:
    if not args:
        raise UsageError("Missing the time (HH:MM, 24-hour).", USAGE[form])
    if len(args) > 2:
        raise UsageError(
            f"Unexpected extra text: `{quote_input(' '.join(args[2:]))}`.", USAGE[form]
        )
    at = _TIME.fullmatch(args[0])
    if at is None:
        raise UsageError(
            f"`{quote_input(args[0])}` is not a time; write it as HH:MM, 24-hour (09:00, 17:30).",
            USAGE[form],
        )
    zone = time_zone(args[1]) if len(args) == 2 else None
    if len(args) == 2 and zone is None:
        raise UsageError(
            f"`{quote_input(args[1])}` is not a time zone; use an IANA name such as "
            "Europe/Berlin, America/New_York or Asia/Shanghai (or UTC).",
            USAGE[form],
        )
    return SetDigest(kind, time(int(at.group(1)), int(at.group(2))), weekday, zone)


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def time_zone(raw: str) -> str | None:
    """The IANA name `raw` stands for (any letter case), or None."""
    return _zone_names().get(raw.lower())


_LARGEST_THRESHOLD = Decimal("1e15")


def _alert(args: list[str]) -> ListAlerts | SetAlert | AlertOff | SetSpike | SpikeOff:
    if not args:
        return ListAlerts()
    alias = _alias(args[0], "alert")
    rest = [arg.lower() for arg in args[1:]]
    if rest == ["off"]:
        return AlertOff(alias)
    if rest and rest[0] == "spike":
        return _spike(alias, args[2:])
    if len(rest) != 2 or rest[0] != "below":
        raise UsageError(
            "`alert` takes an alias, then `below` and an amount or a percentage, or `off`.",
            USAGE["alert"],
        )
    return SetAlert(alias, _threshold(args[2]))


def _threshold(raw: str) -> Threshold:
    percent = raw.endswith("%")
    try:
        value = Decimal(raw.removesuffix("%").replace(",", ""))
        if value.is_finite() and 0 < value < _LARGEST_THRESHOLD:
            value = value.quantize(Decimal("0.0001"))
    except InvalidOperation:
        value = Decimal("NaN")
    if percent and value.is_finite() and 0 < value < 100:
        return Threshold("percent", value)
    if not percent and value.is_finite() and 0 < value < _LARGEST_THRESHOLD:
        return Threshold("amount", value)
    raise UsageError(
        f"`{quote_input(raw)}` is not a threshold: give an amount above 0 (such as 100) or a "
        "percentage between 0 and 100 (such as 10%).",
        USAGE["alert"],
    )


def _spike(alias: str, args: list[str]) -> SetSpike | SpikeOff:
    if len(args) > 1:
        raise UsageError(
            f"Unexpected extra text: `{quote_input(' '.join(args[1:]))}`.", USAGE["alert spike"]
        )
    if not args:
        return SetSpike(alias, DEFAULT_FACTOR)
    if args[0].lower() == "off":
        return SpikeOff(alias)
    try:
        factor = Decimal(args[0].lower().removesuffix("x"))
    except InvalidOperation:
        factor = Decimal("NaN")
    if factor.is_finite() and 1 < factor <= MAX_FACTOR:
        factor = factor.quantize(Decimal("0.1"))
        return SetSpike(
            alias, factor.quantize(Decimal(1)) if factor == factor.to_integral() else factor
        )
    raise UsageError(
        f"`{quote_input(args[0])}` is not a spike factor: give a number above 1 and at most "
        f"{MAX_FACTOR} (such as 4, for four times the usual spend), or `off`.",
        USAGE["alert spike"],
    )


def _usage(args: list[str]) -> ShowUsage:
    if not args:
        raise UsageError("Missing the alias for `usage`.", USAGE["usage"])
    if len(args) > 2:
        raise UsageError(
            f"Unexpected extra text: `{quote_input(' '.join(args[2:]))}`.", USAGE["usage"]
        )
    alias = _alias(args[0], "usage")
    if len(args) == 1:
        return ShowUsage(alias, "7d")
    period = args[1].lower()
    if period not in PERIODS:
        raise UsageError(
            f"`{quote_input(args[1])}` is not a period: use `today`, `7d` or `30d`.",
            USAGE["usage"],
        )
    return ShowUsage(alias, period)  # type: ignore[arg-type]


def _keys(args: list[str]) -> ListKeys:
    if len(args) != 1:
        problem = "Missing the alias" if not args else "Too many arguments"
        raise UsageError(f"{problem} for `keys`.", USAGE["keys"])
    return ListKeys(_alias(args[0], "keys"))


def _policy(args: list[str]) -> ShowPolicy | SetApproval:
    if not args:
        return ShowPolicy()
    words = [arg.lower() for arg in args]
    if len(words) == 2 and words[0] == "approval" and words[1] in ("on", "off"):
        return SetApproval(words[1] == "on")
    raise UsageError(
        f"`{quote_input(' '.join(args))}` is not a policy: use `approval on` or `approval off`.",
        USAGE["policy"],
    )
