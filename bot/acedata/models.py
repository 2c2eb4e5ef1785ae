"""Typed views of the Ace Data Cloud objects the bot reads."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _to_decimal(value: Any) -> Any:
    # str() first: a JSON float such as 493.2210000000001 must not become its binary expansion.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        return value.strip()
    return value


class Service(_Model):
    id: str | None = None
    title: str | None = None
    name: str | None = None
    alias: str | None = None
    unit: str | None = None

    @property
    def display_name(self) -> str:
        return self.title or self.name or self.alias or "Application"

    @property
    def display_unit(self) -> str:
        return self.unit or "Credits"


class Application(_Model):
    id: str
    service_id: str | None = None
    service: Service | None = None
    type: str | None = None
    scope: str | None = None
    remaining_amount: Decimal
    used_amount: Decimal = Decimal(0)
    allow_consume_global: bool | None = None
    expired_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

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
    id: str | None = None
    username: str | None = None
    email: str | None = None
    nickname: str | None = None

    @property
    def display_name(self) -> str:
        return self.username or self.nickname or self.email or "unknown account"
