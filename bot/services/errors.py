"""Domain failures the Slack layer turns into sentences."""

from __future__ import annotations


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
