"""The web server flow (authorization code with PKCE) as the emulator plays it, driven by a plain
HTTP client that fills the login and approval pages: what `sf org login web` goes through."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.sf_browser import read_form

CLI_CALLBACK = "http://localhost:1717/OauthRedirect"


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(emulator: Any, alias: str, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": "PlatformCLI", "redirect_uri": CLI_CALLBACK, **params}
    return requests.get(
        emulator.org(alias)["instance_url"] + "/services/oauth2/authorize",
        params=query,
        verify=emulator.ca_bundle,
        timeout=10,
    )


def log_in(emulator: Any, alias: str, password: str | None = None, **params: str) -> requests.Response:
    """The login page, filled and posted: the approval page, or the login page again."""
    org = emulator.org(alias)
    login = read_form(authorize(emulator, alias, **params))
    return requests.post(
        org["instance_url"] + str(login.action),
        data={**login.fields, "username": org["admin_username"], "pw": password or org["admin_password"]},
        verify=emulator.ca_bundle,
        timeout=10,
    )


def decide(
    emulator: Any, alias: str, approval: requests.Response, allow: bool = True
) -> dict[str, list[str]]:
    form = read_form(approval)
    button = {"approve": "Allow"} if allow else {"deny": "Deny"}
    answer = requests.post(
        emulator.org(alias)["instance_url"] + str(form.action),
        data={**form.fields, **button},
        verify=emulator.ca_bundle,
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(CLI_CALLBACK + "?")
    return parse_qs(urlsplit(location).query)


def exchange(emulator: Any, alias: str, code: str, verifier: str, **extra: str) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "PlatformCLI",
        "redirect_uri": CLI_CALLBACK,
        "code_verifier": verifier,
        **extra,
    }
    return requests.post(emulator.org(alias)["token_url"], data=data, verify=emulator.ca_bundle, timeout=10)


def log_in_at(emulator: Any, base: str, login_page: requests.Response, alias: str) -> requests.Response:
    """The login page shown at ``base`` (an org's My Domain or the shared login host), posted with
    the admin of ``alias``."""
    login, org = read_form(login_page), emulator.org(alias)
    return requests.post(
        base + str(login.action),
        data={**login.fields, "username": org["admin_username"], "pw": org["admin_password"]},
        verify=emulator.ca_bundle,
        timeout=10,
    )


def allow_at(emulator: Any, base: str, approval: requests.Response) -> requests.Response:
    """The approval page answered Allow: the redirect to the callback, not followed."""
    form = read_form(approval)
    return requests.post(
        base + str(form.action),
        data={**form.fields, "approve": "Allow"},
        verify=emulator.ca_bundle,
        timeout=10,
        allow_redirects=False,
    )


def test_code_with_pkce_gives_access_and_refresh_tokens_once(emulator) -> None:
    verifier = secrets.token_urlsafe(48)
    approval = log_in(
        emulator, "orgA", state="s-1", code_challenge=challenge_for(verifier), scope="refresh_token api web"
    )
    assert read_form(approval).title == "Allow Access?"
    redirect = decide(emulator, "orgA", approval)
    assert redirect["state"] == ["s-1"]
    code = redirect["code"][0]

    wrong = exchange(emulator, "orgA", code, "not-the-verifier")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert wrong.json()["error_description"] == "invalid code verifier"
    # A code is single use: the failed exchange spent it, as it would the successful one.
    again = exchange(emulator, "orgA", code, verifier)
    assert again.json() == {"error": "invalid_grant", "error_description": "invalid authorization code"}

    redirect = decide(emulator, "orgA", log_in(emulator, "orgA", code_challenge=challenge_for(verifier)))
    tokens = exchange(emulator, "orgA", redirect["code"][0], verifier).json()
    assert tokens["instance_url"] == emulator.org("orgA")["instance_url"]
    assert tokens["refresh_token"] and tokens["access_token"]
    refreshed = requests.post(
        emulator.org("orgA")["token_url"],
        data={
            "grant_type": "refresh_token",
            "client_id": "PlatformCLI",
            "refresh_token": tokens["refresh_token"],
        },
        verify=emulator.ca_bundle,
        timeout=10,
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != tokens["access_token"]


def test_wrong_password_shows_the_login_page_again(emulator) -> None:
    page = log_in(emulator, "orgA", password="not-the-password")
    assert page.status_code == 200
    assert read_form(page).title == "Login"
    assert "Please check your username and password" in page.text


def test_deny_redirects_with_access_denied(emulator) -> None:
    redirect = decide(emulator, "orgA", log_in(emulator, "orgA", state="s-2"), allow=False)
    assert redirect == {
        "error": ["access_denied"],
        "error_description": ["end-user denied authorization"],
        "state": ["s-2"],
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"client_id": "NoSuchApp"}, "invalid_client_id"),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri_mismatch"),
        ({"response_type": "token id_token"}, "unsupported_response_type"),
    ],
)
def test_bad_authorize_requests_show_an_error_page(emulator, params: dict[str, str], error: str) -> None:
    page = authorize(emulator, "orgA", **params)
    assert page.status_code == 400
    assert f"error={error}" in page.text


def test_redirect_uri_must_match_at_the_exchange(emulator) -> None:
    verifier = secrets.token_urlsafe(48)
    redirect = decide(emulator, "orgB", log_in(emulator, "orgB", code_challenge=challenge_for(verifier)))
    answer = exchange(
        emulator, "orgB", redirect["code"][0], verifier, redirect_uri="http://localhost:1717/Other"
    )
    assert answer.json()["error"] == "redirect_uri_mismatch"


def test_on_the_shared_login_host_the_user_decides_the_org(emulator) -> None:
    """As at login.salesforce.com: the login page finds the user's org, the code is exchanged at
    the same host, and the answer points at that org's instance."""
    verifier = secrets.token_urlsafe(48)
    base = emulator.generic_login_url
    login_page = requests.get(
        base + "/services/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "PlatformCLI",
            "redirect_uri": CLI_CALLBACK,
            "code_challenge": challenge_for(verifier),
        },
        verify=emulator.ca_bundle,
        timeout=10,
    )
    org = emulator.org("orgB")
    answer = allow_at(emulator, base, log_in_at(emulator, base, login_page, "orgB"))
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        base + "/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "PlatformCLI",
            "redirect_uri": CLI_CALLBACK,
            "code_verifier": verifier,
        },
        verify=emulator.ca_bundle,
        timeout=10,
    ).json()
    assert tokens["instance_url"] == org["instance_url"]
    assert tokens["id"].startswith(f"{base}/id/{org['org_id']}/")


def test_an_org_app_sends_the_code_to_its_callback_urls_and_only_to_its_own_org_users(
    emulator, connected_app
) -> None:
    """A connected app's callback URLs (one a line, or comma-separated) are where its code may go;
    on the shared login host a user of another org cannot log in to it."""
    app = connected_app("orgB", callbackUrl="https://one.example/cb,\nhttps://two.example/cb")
    base = emulator.generic_login_url

    def login_as(alias: str, redirect_uri: str) -> requests.Response:
        page = requests.get(
            base + "/services/oauth2/authorize",
            params={"response_type": "code", "client_id": app.consumer_key, "redirect_uri": redirect_uri},
            verify=emulator.ca_bundle,
            timeout=10,
        )
        return log_in_at(emulator, base, page, alias) if page.status_code == 200 else page

    assert "error=redirect_uri_mismatch" in login_as("orgB", CLI_CALLBACK).text
    refused = login_as("orgA", "https://two.example/cb")
    assert refused.status_code == 400 and "error=invalid_client_id" in refused.text
    approval = login_as("orgB", "https://two.example/cb")
    assert app.name in approval.text
    answer = allow_at(emulator, base, approval)
    assert answer.headers["Location"].startswith("https://two.example/cb?code=")
