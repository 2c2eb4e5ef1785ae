"""Typed views of the Ace Data Cloud objects the bot reads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A field the bot can live without: an odd value becomes None instead of failing the whole
    object."""
    try:
        return handler(value)
    except ValidationError:
        return None


T = TypeVar("T")
Lenient = Annotated[T | None, WrapValidator(_or_none)]


def _to_decimal(value: Any) -> Any:
    # str() first: a JSON float such as 493.2210000000001 must not become its binary expansion.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        return value.strip()
    return value


class Service(_Model):
    id: Lenient[str] = None
    title: Lenient[str] = None
    name: Lenient[str] = None
    alias: Lenient[str] = None
    unit: Lenient[str] = None

    @property
    def display_name(self) -> str:
        return self.title or self.name or self.alias or "Application"

    @property
    def display_unit(self) -> str:
        return self.unit or "Credits"


class Application(_Model):
    id: str
    service_id: Lenient[str] = None
    service: Lenient[Service] = None
    type: Lenient[str] = None
    scope: Lenient[str] = None
    # Infinite or NaN amounts are kept: the card says "unreadable" for them and shows the rest.
    remaining_amount: Annotated[Decimal, Field(allow_inf_nan=True)]
    used_amount: Annotated[Decimal, Field(allow_inf_nan=True)] = Decimal(0)
    allow_consume_global: Lenient[bool] = None
    expired_at: Lenient[datetime] = None
    created_at: Lenient[datetime] = None
    updated_at: Lenient[datetime] = None

    @field_validator("remaining_amount", "used_amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name == "used_amount":
            return Decimal(0)
        return _to_decimal(value)

    @property
    def title(self) -> str:
        return self.service.display_name if self.service else "Application"

    @property
    def unit(self) -> str:
        return self.service.display_unit if self.service else "Credits"

    @property
    def is_global(self) -> bool:
        return (self.scope or "").lower() == "global"


class TokenOwner(_Model):
    id: Lenient[str] = None
    username: Lenient[str] = None
    email: Lenient[str] = None
    nickname: Lenient[str] = None

    @property
    def display_name(self) -> str:
        return self.username or self.nickname or self.email or "unknown account"


class DailyUsage(_Model):
    """What an application used on one day, in its service's unit, as Ace Data Cloud's usage
    aggregate reports it (the day as the aggregate names it, read as a UTC day)."""

    day: date
    amount: Decimal


class ApiDayAmount(_Model):
    """What one API of an application cost on one day (the day in the zone the aggregate was
    asked for)."""

    day: date
    api_id: str
    amount: Decimal


class ApiUsage(_Model):
    """The usage aggregate of one application: an amount per day and API, and the APIs' titles
    as Ace Data Cloud names them."""

    items: tuple[ApiDayAmount, ...] = ()
    titles: dict[str, str] = Field(default_factory=dict)

    def title(self, api_id: str) -> str:
        return self.titles.get(api_id) or api_id


class UsageRecord(_Model):
    """One call an application made, as the usage list reports it (no secret is ever in it)."""

    api_id: Lenient[str] = None
    credential_id: Lenient[str] = None
    credential_name: Lenient[str] = None
    status_code: Lenient[int] = None
    amount: Decimal = Decimal(0)
    created_at: Lenient[datetime] = None


class ApiKey(_Model):
    """One API key ("credential") of an application. Its secrets (`token`, `username`,
    `password`) are never part of this model: they are dropped before it is built."""

    id: str
    name: Lenient[str] = None
    type: Lenient[str] = None
    application_id: Lenient[str] = None
    used_amount: Annotated[Decimal, Field(allow_inf_nan=False)] = Decimal(0)
    limited_amount: Lenient[Annotated[Decimal, Field(allow_inf_nan=False)]] = None
    expired_at: Lenient[datetime] = None
    created_at: Lenient[datetime] = None

    @field_validator("used_amount", mode="before")
    @classmethod
    def _used(cls, value: Any) -> Any:
        return Decimal(0) if value is None else _to_decimal(value)

    @field_validator("limited_amount", mode="before")
    @classmethod
    def _cap(cls, value: Any) -> Any:
        return _to_decimal(value)

    @property
    def display_name(self) -> str:
        return self.name or f"key {self.id[:8]}"

    def is_paused(self, now: datetime) -> bool:
        """Refused by the gateway because its expiry has passed."""
        return self.expired_at is not None and self.expired_at <= now

    @property
    def is_capped_out(self) -> bool:
        return self.limited_amount is not None and self.used_amount >= self.limited_amount
