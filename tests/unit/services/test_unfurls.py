"""Which console links point to an application."""

from __future__ import annotations

import pytest

from bot.services.unfurls import MAX_LINKS, application_in, applications_in

CONSOLE = "https://platform.acedata.cloud"
APP = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"


@pytest.mark.parametrize(
    "url",
    [
        f"{CONSOLE}/console/applications/{APP}",
        f"{CONSOLE}/console/applications/{APP}/extra?tab=1#x",
        f"{CONSOLE}/console/applications/{APP.upper()}",
        f"{CONSOLE}/console/usages?application_id={APP}&page=2",
        f"{CONSOLE}/console/usages/?application_id={APP}",
        f"http://PLATFORM.acedata.cloud/console/applications/{APP}",
    ],
)
def test_console_links_to_an_application(url: str) -> None:
    assert application_in(url, CONSOLE) == APP


@pytest.mark.parametrize(
    "url",
    [
        f"https://platform.acedata.cloud.evil.test/console/applications/{APP}",
        f"https://evil.test/console/applications/{APP}",
        f"https://platform.acedata.cloud:8443/console/applications/{APP}",
        f"ftp://platform.acedata.cloud/console/applications/{APP}",
        f"{CONSOLE}/console/applications/",
        f"{CONSOLE}/console/applications/{APP}x",
        f"{CONSOLE}/console/usages",
        f"{CONSOLE}/console/usages?application_id=../../x",
        f"{CONSOLE}/api/v1/applications/{APP}",
        "not a url at all",
        "https://[::1/console",
    ],
)
def test_anything_else_is_not(url: str) -> None:
    assert application_in(url, CONSOLE) is None


def test_each_application_once_and_a_few_at_most() -> None:
    many = [f"{CONSOLE}/console/applications/{APP[:-2]}{n:02d}" for n in range(10)]
    found = applications_in([many[0], many[0] + "/extra", *many], CONSOLE)
    assert list(found) == many[:MAX_LINKS]
