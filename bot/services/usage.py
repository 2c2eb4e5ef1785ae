"""An application's spend by API over a period: the usage aggregate folded into the top APIs and
"Others", with a total per day."""

from __future__ import annotations

from typing import Literal

Period = Literal["today", "7d", "30d"]
PERIODS: tuple[Period, ...] = ("today", "7d", "30d")
