"""Typed declarative models. The schema itself changes only through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .crypto import EncryptedString
from .types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Workspace(Base):
    """A Slack workspace (team) and its Ace Data Cloud platform token."""

    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    acedata_token: Mapped[str | None] = mapped_column(EncryptedString())
    acedata_token_last4: Mapped[str | None] = mapped_column(String(4))
    acedata_account: Mapped[str | None] = mapped_column(String(255))
    token_set_by: Mapped[str | None] = mapped_column(String(32))
    token_set_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Two-person approval: enabling a global fallback needs a second admin's approval.
    approval_required: Mapped[bool] = mapped_column(default=False, server_default=false())


class Alias(Base):
    """A short name for an application, for one channel or (channel_id NULL) the workspace."""

    __tablename__ = "aliases"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "name", name="uq_aliases_channel_name"),
        Index(
            "uq_aliases_workspace_name",
            "team_id",
            "name",
            unique=True,
            sqlite_where=text("channel_id IS NULL"),
            postgresql_where=text("channel_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    application_id: Mapped[str] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_workspace_wide(self) -> bool:
        return self.channel_id is None


class BotAdmin(Base):
    """A user an admin made a bot admin (Slack workspace admins and owners are admins anyway)."""

    __tablename__ = "bot_admins"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what: token changes, links, admin changes, fallback toggles."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_team_created", "team_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str | None] = mapped_column(String(32))
    application_id: Mapped[str | None] = mapped_column(String(36))
    before: Mapped[str | None] = mapped_column(String(64))
    requested: Mapped[str | None] = mapped_column(String(64))
    after: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FallbackLock(Base):
    """Held while one fallback change for an application is in flight, across all processes."""

    __tablename__ = "fallback_locks"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class SeenRequestSignature(Base):
    """The signature of a Slack request already served; a second one with it is a replay."""

    __tablename__ = "seen_request_signatures"
    __table_args__ = (Index("ix_seen_request_signatures_seen_at", "seen_at"),)

    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Heartbeat(Base):
    """The last time a process proved it could write (the web process's health check)."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    beat_at: Mapped[datetime]


class Observation(Base):
    """One read of an application's quota, kept for burn rates and digests. Amounts are stored as
    the exact decimal text Ace Data Cloud sent."""

    __tablename__ = "observations"
    __table_args__ = (
        Index("ix_observations_application_time", "team_id", "application_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    application_id: Mapped[str] = mapped_column(String(36))
    remaining: Mapped[str] = mapped_column(Text)
    used: Mapped[str] = mapped_column(Text)
    allow_consume_global: Mapped[bool | None]
    observed_at: Mapped[datetime]


class DigestSchedule(Base):
    """A channel's digest: when it runs (local wall-clock time in `zone`) and its next slot."""

    __tablename__ = "digest_schedules"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", name="uq_digest_schedules_channel"),
        Index("ix_digest_schedules_due", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    at_time: Mapped[str] = mapped_column(String(5))
    weekday: Mapped[int | None]
    zone: Mapped[str] = mapped_column(String(64))
    next_run_at: Mapped[datetime]
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestDelivery(Base):
    """One slot of one schedule: claimed before sending, so no slot is sent twice."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (
        UniqueConstraint("schedule_id", "slot", name="uq_digest_deliveries_slot"),
        Index("ix_digest_deliveries_lease", "outcome", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("digest_schedules.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    lease_until: Mapped[datetime]
    slack_error: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    finished_at: Mapped[datetime | None]


class QuotaAlert(Base):
    """A channel's watch on one alias: its threshold, what the channel was last told, snoozes,
    and when it is next checked."""

    __tablename__ = "quota_alerts"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "alias", name="uq_quota_alerts_alias"),
        Index("ix_quota_alerts_due", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(String(32))
    threshold_kind: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[str] = mapped_column(Text)
    said: Mapped[int] = mapped_column(Integer, default=0)
    snoozed_until: Mapped[datetime | None]
    snoozed_at: Mapped[int | None]
    until_recovered: Mapped[bool] = mapped_column(default=False)
    last_remaining: Mapped[str | None] = mapped_column(Text)
    next_check_at: Mapped[datetime]
    last_checked_at: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(32))
    # Rounds in a row the alert could not be checked for a lasting reason (alias gone, no token).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Once it ran out: since when, the message that said so (updated with the failed calls).
    out_since: Mapped[datetime | None]
    out_ts: Mapped[str | None] = mapped_column(String(32))
    out_failed_calls: Mapped[int | None]


class KeyReading(Base):
    """One read of an API key's spend so far (`used_amount`), for its spend over the last day
    and a spike's top keys. Thinned like observations."""

    __tablename__ = "key_readings"
    __table_args__ = (
        Index("ix_key_readings_application_time", "team_id", "application_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    application_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str] = mapped_column(String(64))
    key_name: Mapped[str | None] = mapped_column(String(100))
    used: Mapped[str] = mapped_column(Text)
    observed_at: Mapped[datetime]


class KeyPause(Base):
    """An API key the bot paused (its expiry set to then): the expiry to restore on resume."""

    __tablename__ = "key_pauses"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36))
    key_name: Mapped[str | None] = mapped_column(String(100))
    previous_expired_at: Mapped[datetime | None]
    paused_by: Mapped[str] = mapped_column(String(32))
    paused_at: Mapped[datetime]


class SpikeAlert(Base):
    """A channel's watch for a spend spike on one alias: the factor over usual that counts as
    one, the episode in progress (and its message), snoozes, and when it is next checked."""

    __tablename__ = "spike_alerts"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "alias", name="uq_spike_alerts_alias"),
        Index("ix_spike_alerts_due", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(String(32))
    factor: Mapped[str] = mapped_column(Text)
    episode_started_at: Mapped[datetime | None]
    episode_ts: Mapped[str | None] = mapped_column(String(32))
    snoozed_until: Mapped[datetime | None]
    next_check_at: Mapped[datetime]
    last_checked_at: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FallbackRequest(Base):
    """An admin's request to enable a global fallback, waiting for another admin (two-person
    approval): pending, then approved, rejected or expired, each decided once. A workflow step
    that asked for it waits on it (its execution, and the token to complete it with)."""

    __tablename__ = "fallback_requests"
    __table_args__ = (Index("ix_fallback_requests_due", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    requester_id: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str | None] = mapped_column(String(32))
    application_id: Mapped[str] = mapped_column(String(36))
    duration: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    function_execution_id: Mapped[str | None] = mapped_column(String(64))
    function_token: Mapped[str | None] = mapped_column(EncryptedString())


class FallbackTimer(Base):
    """A global fallback switched on for a while: when the worker switches it back off, and
    where to say so. One per application; a person's change replaces or removes it."""

    __tablename__ = "fallback_timers"
    __table_args__ = (
        PrimaryKeyConstraint("team_id", "application_id"),
        Index("ix_fallback_timers_due", "off_at"),
    )

    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(String(36))
    alias: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(32))
    approved_by: Mapped[str | None] = mapped_column(String(32))
    off_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
