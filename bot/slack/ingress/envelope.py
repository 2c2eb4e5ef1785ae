"""The shapes of the Slack requests the bot answers, checked before any listener reads them.

A signed request can still be malformed (a bug, or someone holding the signing secret): it is
refused with 400 and one log line rather than failing halfway through a listener.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# As long as the database's ID columns allow.
SlackId = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class SlashCommand(_Shape):
    team_id: SlackId
    channel_id: SlackId
    user_id: SlackId
    text: str = ""
    response_url: str = Field(min_length=1)
    trigger_id: str = ""


class Team(_Shape):
    id: SlackId


class User(_Shape):
    id: SlackId
    team_id: SlackId | None = None


class Channel(_Shape):
    id: SlackId


class Container(_Shape):
    message_ts: str | None = None
    channel_id: SlackId | None = None
    is_ephemeral: bool = False
    # A press in a link's unfurl: the link it unfurls.
    is_app_unfurl: bool = False
    app_unfurl_url: Annotated[str, StringConstraints(max_length=3000)] | None = None


class Message(_Shape):
    ts: str | None = None


class Action(_Shape):
    action_id: str
    block_id: str | None = None
    value: str | None = None


class ButtonPress(_Shape):
    team: Team
    user: User
    trigger_id: str = ""  # opens a dialog, for a few seconds
    actions: list[Action] = Field(min_length=1)
    channel: Channel | None = None
    container: Container = Container()
    message: Message | None = None
    response_url: str | None = None

    @property
    def action(self) -> Action:
        return self.actions[0]

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else self.container.channel_id

    @property
    def message_ts(self) -> str | None:
        return self.container.message_ts or (self.message.ts if self.message else None)


class ViewState(_Shape):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class View(_Shape):
    callback_id: str
    state: ViewState = ViewState()


class ViewSubmission(_Shape):
    team: Team
    user: User
    view: View

    def text_value(self, block_id: str, action_id: str) -> str:
        """What was typed into one plain-text input, stripped; empty when absent or odd."""
        field = self.view.state.values.get(block_id, {}).get(action_id, {})
        value = field.get("value")
        return value.strip() if isinstance(value, str) else ""

    def chosen_value(self, block_id: str, action_id: str) -> str:
        """The value of the option chosen in one radio or select input; empty when none."""
        field = self.view.state.values.get(block_id, {}).get(action_id, {})
        option = field.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) else ""


_SHAPES: dict[str, type[_Shape]] = {
    "block_actions": ButtonPress,
    "view_submission": ViewSubmission,
}


def read(body: Any) -> _Shape | None:
    """The typed request for the kinds the bot answers, None for other kinds; ValueError (with
    the fields at fault, never their values) when a known kind is malformed."""
    if not isinstance(body, dict):
        raise ValueError("the body is not an object")
    shape: type[_Shape] | None
    if "command" in body:
        shape = SlashCommand
    else:
        kind = body.get("type")
        shape = _SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        return None
    try:
        return shape.model_validate(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})
        raise ValueError(f"malformed {shape.__name__}: {', '.join(fields)[:200]}") from None
