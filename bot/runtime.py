"""What one process holds for its lifetime: settings, database engine, Ace Data Cloud client."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .acedata import AceDataClient
from .config import Settings
from .db.engine import configure_encryption, create_engine, create_session_factory


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    acedata: AceDataClient

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        configure_encryption(settings)
        engine = create_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            acedata=AceDataClient(str(settings.acedata_base_url)),
        )

    @property
    def fallback_token(self) -> str | None:
        token = self.settings.acedata_platform_token
        return token.get_secret_value() if token else None

    async def close(self) -> None:
        await self.acedata.aclose()
        await self.engine.dispose()
