"""A person at a browser, for `sf org login web`: the CLI opens this "browser" (through $BROWSER)
with the authorize URL; it fills the emulator's login form, presses Allow, and follows the
redirect to the CLI's localhost:1717 listener, as a real browser would.

Run as `python tests/sf_browser.py URL`, with ORGLINK_BROWSER_USERNAME, ORGLINK_BROWSER_PASSWORD,
ORGLINK_BROWSER_CA (the emulator's CA) and ORGLINK_BROWSER_LOG (where each step is written: status
codes and page titles, never a password, code or token).
"""

from __future__ import annotations

import os
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests


class FormReader(HTMLParser):
    """The first form of a page: its action, and every input's name and value."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        if tag == "input" and values.get("type") in ("hidden",):
            self.fields[values.get("name", "")] = values.get("value", "")
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def read_form(page: requests.Response) -> FormReader:
    reader = FormReader()
    reader.feed(page.text)
    return reader


def main(url: str) -> int:
    log = Path(os.environ["ORGLINK_BROWSER_LOG"])
    ca = os.environ["ORGLINK_BROWSER_CA"]
    steps: list[str] = []
    session = requests.Session()
    try:
        login_page = session.get(url, verify=ca, timeout=20)
        login = read_form(login_page)
        steps.append(f"login page {login_page.status_code} {login.title}")
        credentials = {
            "username": os.environ["ORGLINK_BROWSER_USERNAME"],
            "pw": os.environ["ORGLINK_BROWSER_PASSWORD"],
        }
        approve_page = session.post(
            urljoin(url, login.action or ""),
            data={**login.fields, **credentials, "Login": "Log In"},
            verify=ca,
            timeout=20,
        )
        approve = read_form(approve_page)
        steps.append(f"approval page {approve_page.status_code} {approve.title}")
        decided = session.post(
            urljoin(url, approve.action or ""),
            data={**approve.fields, "approve": "Allow"},
            verify=ca,
            timeout=20,
            allow_redirects=False,
        )
        location = decided.headers.get("Location", "")
        steps.append(f"approved {decided.status_code} to {location.split('?')[0]}")
        # The CLI's listener on localhost:1717: plain HTTP, as the CLI serves it.
        landed = session.get(location, timeout=20)
        steps.append(f"callback {landed.status_code}")
    except (requests.RequestException, KeyError) as exc:
        steps.append(f"failed: {type(exc).__name__}")
        log.write_text("\n".join(steps) + "\n")
        return 1
    log.write_text("\n".join(steps) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
