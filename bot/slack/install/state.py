"""Install links' OAuth states, signed instead of stored: anyone can open /slack/install, so
opening it writes nothing. A state is `<expiry>.<nonce>.<mac>` (HMAC-SHA256 under a key
derived from SLACK_CLIENT_SECRET); Bolt ties it to the browser with a cookie, and its nonce
is recorded when the installation completes, so each link is used once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from ...services.replays import SignatureLedger

logger = logging.getLogger(__name__)

# How long the one-time check of a state may wait on the database.
CONSUME_TIMEOUT = 2.0


class SignedStates(AsyncOAuthStateStore):
    def __init__(
        self,
        client_secret: str,
        ledger: SignatureLedger,
        *,
        expiration_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hashlib.sha256(b"quota-bot oauth state\0" + client_secret.encode()).digest()
        self._ledger = ledger
        self._expiration = expiration_seconds
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        payload = f"{int(self._clock()) + self._expiration}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._mac(payload)}"

    async def async_consume(self, state: str) -> bool:
        """Whether `state` is one this app issued, unexpired and not used before."""
        parts = state.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
            return False
        expires, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{expires}.{nonce}")):
            return False
        if int(expires) < self._clock():
            return False
        return await self._ledger.first_time_seen(f"state:{nonce}", timeout=CONSUME_TIMEOUT)

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:43]
