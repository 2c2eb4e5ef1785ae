"""The console's Block Kit renderer: what a person at the prompt reads of a message."""

from __future__ import annotations

from bot.console.render import plain, render_message


def button(label: str, action: str) -> dict[str, object]:
    return {"type": "button", "action_id": action, "text": {"type": "plain_text", "text": label}}


def test_header_sections_fields_and_context_become_plain_lines() -> None:
    message = {
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Midjourney · prod"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Left: *12%*"},
                "fields": [
                    {"type": "mrkdwn", "text": "*Remaining*\n12.50 Credits"},
                    {"type": "mrkdwn", "text": "*Used*\n21.78 Credits"},
                ],
            },
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "as of 10:00"}]},
        ]
    }
    lines = render_message(message).lines
    assert lines[:2] == ["Midjourney · prod", "================="]
    assert "Left: *12%*" in lines
    assert "  *Remaining* 12.50 Credits" in lines and "  *Used* 21.78 Credits" in lines
    assert lines[-1] == "  as of 10:00"


def test_buttons_are_numbered_in_order_and_link_buttons_show_their_url() -> None:
    message = {
        "blocks": [
            {
                "type": "actions",
                "block_id": "card",
                "elements": [
                    button("Refresh", "refresh"),
                    {**button("Open in console", "open"), "url": "https://example.test/a?b=1"},
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Key"},
                "accessory": button("Set cap…", "cap"),
            },
        ]
    }
    rendered = render_message(message, first_number=3)
    assert "[3] Refresh  [4] Open in console https://example.test/a?b=1" in rendered.lines
    assert "[5] Set cap…" in rendered.lines
    assert [(b.number, b.element["action_id"], b.block_id) for b in rendered.buttons] == [
        (3, "refresh", "card"),
        (4, "open", "card"),
        (5, "cap", ""),
    ]


def test_mrkdwn_escapes_dates_mentions_and_links_read_as_text() -> None:
    assert plain("a &lt;b&gt; &amp; c") == "a <b> & c"
    assert plain("at <!date^1700000000^{date_short_pretty} at {time}|Nov 14 22:13 UTC>.") == (
        "at Nov 14 22:13 UTC."
    )
    assert plain("done by <@U0123ABC> in <#C0001|ops>") == "done by @you in #ops"
    assert plain("see <https://example.test/x|the console>") == (
        "see the console (https://example.test/x)"
    )


def test_a_message_without_blocks_is_its_text_with_its_mark() -> None:
    rendered = render_message({"text": "Saved &lt;ok&gt;\nsecond"}, mark="(in thread)")
    assert rendered.lines == ["(in thread) Saved <ok>", "second"]
    assert rendered.buttons == []


def test_a_dialog_shows_its_title_and_its_inputs() -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Set a cap"},
        "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "Cap"}}],
    }
    assert render_message(view).lines == ["[dialog] Set a cap", "Cap: …"]
