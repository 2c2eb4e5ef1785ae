"""Re-encrypting every stored secret under the newest key of ENCRYPTION_KEY (`quota-bot
rotate-key`), a batch per transaction, so that an interrupted run is simply run again: what is
under the newest key already is left as it is."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, TableClause, Text, column, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.crypto import Keyring
from ..db.database import Database
from ..db.installations import BOTS_TABLE, INSTALLATIONS_TABLE, TOKEN_COLUMNS

BATCH = 200
# Every encrypted column, as (table, primary key, columns): read here as the ciphertext itself.
_SECRETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("workspaces", "team_id", ("acedata_token",)),
    (INSTALLATIONS_TABLE, "id", TOKEN_COLUMNS),
    (BOTS_TABLE, "id", ("bot_token", "bot_refresh_token")),
)


@dataclass
class Rotation:
    rotated: int = 0
    current: int = 0  # under the newest key already
    unreadable: dict[str, int] = field(default_factory=dict)  # "table.column": rows


async def rotate_secrets(db: Database, keyring: Keyring, *, batch: int = BATCH) -> Rotation:
    """Re-encrypt every stored secret under the newest key; what was done."""
    done = Rotation()
    for table_name, key, names in _SECRETS:
        for name in names:
            await _rotate_column(db, keyring, table_name, key, name, batch, done)
    return done


async def _rotate_column(
    db: Database,
    keyring: Keyring,
    table_name: str,
    key: str,
    name: str,
    batch: int,
    done: Rotation,
) -> None:
    rows = table(table_name, column(key), column(name, Text))
    after: object = None
    while True:
        query = select(rows.c[key], rows.c[name]).where(rows.c[name].is_not(None))
        if after is not None:
            query = query.where(rows.c[key] > after)
        found = await db.run(
            lambda session, query=query: _rotate_batch(  # type: ignore[misc]
                session, keyring, rows, key, name, query.order_by(rows.c[key]).limit(batch)
            ),
            changes=True,
        )
        if found.last is None:
            return
        after = found.last
        done.rotated += found.rotated
        done.current += found.current
        if found.unreadable:
            where = f"{table_name}.{name}"
            done.unreadable[where] = done.unreadable.get(where, 0) + found.unreadable


@dataclass
class _Batch:
    last: object = None
    rotated: int = 0
    current: int = 0
    unreadable: int = 0


async def _rotate_batch(
    session: AsyncSession, keyring: Keyring, rows: TableClause, key: str, name: str, query: Select
) -> _Batch:
    found = _Batch()
    for row_key, ciphertext in (await session.execute(query)).all():
        found.last = row_key
        new = keyring.rotated(ciphertext)
        if new is None:
            found.unreadable += 1
        elif new == ciphertext:
            found.current += 1
        else:
            await session.execute(update(rows).where(rows.c[key] == row_key).values({name: new}))
            found.rotated += 1
    return found
