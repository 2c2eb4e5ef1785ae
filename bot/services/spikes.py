"""Spike alerts: a channel is told once per episode when an alias spends at least N times its
usual rate, and once more when it calms down."""

from __future__ import annotations

from decimal import Decimal

DEFAULT_FACTOR = Decimal(4)
MAX_FACTOR = Decimal(100)
