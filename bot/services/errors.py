"""Domain failures the Slack layer turns into sentences, the database's included (so that
listeners need not import the database layer to name them)."""

from __future__ import annotations

from ..db.database import DatabaseOutcomeUnknown as DatabaseOutcomeUnknown
from ..db.database import DatabaseUnavailable as DatabaseUnavailable


class ServiceError(Exception):
    """A request that cannot be carried out as asked; nothing was changed."""


class InvalidAlias(ServiceError):
    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason


class InvalidApplicationId(ServiceError):
    def __init__(self, raw: str) -> None:
        super().__init__("not an application id")
        self.raw = raw


class AliasNotFound(ServiceError):
    def __init__(self, name: str, *, workspace: bool | None = None, other_scope: bool = False):
        super().__init__(name)
        self.name = name
        self.workspace = workspace
        self.other_scope = other_scope


class NoTokenConfigured(ServiceError):
    """The workspace has no Ace Data Cloud platform token yet."""


class TokenUnreadable(NoTokenConfigured):
    """A token is stored, but no current encryption key opens it: as good as not set."""


class TargetMoved(ServiceError):
    """A card names an alias that now points to another application."""

    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


class ApplicationNotLinked(ServiceError):
    """A card names an application that no alias visible to the user points to."""

    def __init__(self, application_id: str) -> None:
        super().__init__(application_id)
        self.application_id = application_id


class NotAdmin(Exception):
    """The acting user is not a bot admin; `action` says what they tried."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class AdminCheckFailed(Exception):
    """Slack could not confirm the user's role (users.info failed), so nothing was done."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
