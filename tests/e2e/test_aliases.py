"""Linking, re-linking and unlinking aliases, per channel and per workspace."""

from __future__ import annotations

from sqlalchemy import Engine, text

from bot.services import aliases
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    table_rows,
)
from tests.support.slack_server import TEAM_ID


async def test_relinking_replaces_the_target_and_says_what_it_was(
    linked: BotClient, db: Engine
) -> None:
    await linked.quota(f"link prod {APP_ID}", user=ADMIN)
    reply = await linked.quota(f"link prod {OTHER_APP_ID}", user=ADMIN)
    assert f"*prod* now points to Suno (`{OTHER_APP_ID}`) for this channel (was `{APP_ID}`)" in (
        reply.text
    )
    card = await linked.quota("prod", user=MEMBER)
    assert "Suno · prod" in card.text
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM aliases")).scalar_one() == 1


async def test_unlink_removes_channel_alias_and_workspace_alias_shows_again(
    linked: BotClient,
) -> None:
    await linked.quota(f"link prod {APP_ID} --workspace", user=ADMIN)
    await linked.quota(f"link prod {OTHER_APP_ID}", user=ADMIN)

    reply = await linked.quota("unlink prod", user=ADMIN)

    assert f"Removed the channel alias *prod* (it pointed to `{OTHER_APP_ID}`)" in reply.text
    card = await linked.quota("prod", user=MEMBER)
    assert "Midjourney · prod" in card.text


async def test_unlink_workspace_alias(linked: BotClient) -> None:
    await linked.quota(f"link prod {APP_ID} --workspace", user=ADMIN)
    reply = await linked.quota("unlink prod --workspace", user=ADMIN)
    assert "Removed the workspace alias *prod*" in reply.text
    gone = await linked.quota("prod", user=MEMBER, channel=OTHER_CHANNEL)
    assert "There is no alias *prod* here" in gone.text


async def test_unlink_in_the_wrong_scope_hints_at_the_flag(linked: BotClient, db: Engine) -> None:
    await linked.quota(f"link music {APP_ID} --workspace", user=ADMIN)
    before = table_rows(db)
    reply = await linked.quota("unlink music", user=ADMIN)
    assert "There is no channel alias *music*; nothing was changed." in reply.text
    assert "add `--workspace` to remove it" in reply.text
    assert table_rows(db) == before


async def test_unlink_unknown_alias_changes_nothing(linked: BotClient, db: Engine) -> None:
    before = table_rows(db)
    reply = await linked.quota("unlink nope --workspace", user=ADMIN)
    assert "There is no workspace alias *nope*" in reply.text
    assert table_rows(db) == before


async def test_channel_alias_is_not_visible_in_other_channels(linked: BotClient) -> None:
    await linked.quota(f"link prod {APP_ID}", user=ADMIN)
    reply = await linked.quota("prod", user=MEMBER, channel=OTHER_CHANNEL)
    assert "There is no alias *prod* here" in reply.text


async def test_changes_are_audited(linked: BotClient, db: Engine) -> None:
    await linked.quota(f"link prod {OTHER_APP_ID}", user=ADMIN)
    await linked.quota("unlink prod", user=ADMIN)
    await linked.quota("admins add <@UMEMBER|bob>", user=ADMIN)
    with db.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT action, user_id, alias, before, after, outcome "
                "FROM audit_events ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("token_set", ADMIN, None, None, "…c56b", "changed"),
        ("alias_linked", ADMIN, "prod", None, APP_ID, "changed"),
        ("admin_added", ADMIN, None, None, None, "changed"),
        ("alias_linked", ADMIN, "prod", APP_ID, OTHER_APP_ID, "changed"),
        ("alias_unlinked", ADMIN, "prod", OTHER_APP_ID, None, "changed"),
        ("admin_added", ADMIN, None, None, None, "changed"),
    ]


async def test_an_alias_linked_before_its_name_became_a_sub_command_can_be_unlinked(
    linked: BotClient, db: Engine
) -> None:
    """`usage` and `keys` became sub-commands: an alias of that name linked before still
    answers to `unlink`, and linking a new one is refused."""
    assert linked.runtime is not None
    await aliases.link(
        linked.runtime.db,
        team_id=TEAM_ID,
        channel_id=CHANNEL,
        name="usage",
        application_id=APP_ID,
        user_id=ADMIN,
    )
    refused = await linked.quota(f"link keys {APP_ID}", user=ADMIN)
    assert "`keys` is a /quota sub-command and cannot be an alias" in refused.text

    reply = await linked.quota("unlink usage", user=ADMIN)

    assert f"Removed the channel alias *usage* (it pointed to `{APP_ID}`)" in reply.text
    with db.connect() as connection:
        names = connection.execute(text("SELECT name FROM aliases")).scalars().all()
    assert "usage" not in names and "keys" not in names
