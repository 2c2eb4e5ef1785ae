"""The time as the database stores it, for callers above the database layer."""

from ..db.models import utcnow as utcnow
