"""Verification: proves after `up` that an org-to-org integration works, end to end.

Two checks, both against the real orgs:
1. Org B issues a token to the configured client-credentials flow (Org B's token URL, the app's
   consumer key and secret). New or changed apps take minutes to reach Salesforce's login servers,
   so ``invalid_client_id`` is retried for a bounded time (``timeout_s``).
2. Org A calls Org B through its named credential: anonymous Apex through the Tooling API's
   ``executeAnonymous`` makes ``callout:<NamedCredential>/services/data/vXX.X/limits`` and throws
   on a non-2xx answer (the local emulator also reports the callout's answer in ``calloutResponse``).
   The Apex runs as the user of orglink's connection to Org A, so it passes only when that user holds
   the principal's access (the integration assigns it to its ``callout_users``).

``checks`` picks them: ``both`` (the default), ``token`` alone or ``callout`` alone. The integration
makes two resources of one run's work: a token gate (check 1) that Org A's PrincipalCredential
depends on, so Org A takes new credentials only once Org B's token endpoint accepts them (a new app
propagates for minutes), and the callout check (2) after Org A has them.

Outputs ``{ok, flow, detail, checked_at}``. It runs on create and whenever an input changes (the
secret is compared through a salted hash, as in PrincipalCredential); an unchanged integration is not
called again, so a no-op `up` makes no request. A failed check fails the `up` when ``required``
(the default), so the next `up` tries again; with ``required: false`` it is recorded as ``ok: false``
and retried on the next `up`.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import urlparse

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import (
    Field,
    Schema,
    alias_field,
    failures_for_org_pair,
    is_unknown,
    unwrap_secret,
)
from providers.org_a.principal_credential import credentials_hash

FLOWS = ("client_credentials",)
CHECKS = ("both", "token", "callout")
RETRY_CODES = ("invalid_client_id",)  # the app has not reached the login servers yet
# Salesforce's words when the running user holds no access to the external credential's principal.
NO_ACCESS_WORDS = "We couldn't access the credential(s)"
NO_ACCESS_HINT = (
    " (the verification callout runs as the user of orglink's connection to Org A: that user needs the "
    "principal's access permission set assigned; list it in the integration's `callout_users`)"
)


def retry_every_s() -> float:
    """Seconds between tries while an app propagates (10; tests of the window set less)."""
    return float(os.environ.get("ORGLINK_VERIFY_RETRY_S", "10"))


class VerificationArgs(TypedDict, total=False):
    org_a: pulumi.Input[str]
    org_b: pulumi.Input[str]
    flow: pulumi.Input[str]
    token_url: pulumi.Input[str]
    consumer_key: pulumi.Input[str]
    consumer_secret: pulumi.Input[str]
    named_credential: pulumi.Input[str]
    checks: pulumi.Input[str]
    api_version: pulumi.Input[str]
    timeout_s: pulumi.Input[int]
    required: pulumi.Input[bool]
    triggers: pulumi.Input[list[str]]


def _api_version(value: Any) -> str:
    text = values.non_empty_text(value).lstrip("vV")
    major, _, minor = text.partition(".")
    if not (major.isdigit() and (minor or "0").isdigit()):
        raise ValueError(f"'{value}' is not an API version like 63.0")
    return f"{int(major)}.{int(minor or 0)}"


SCHEMA = Schema(
    kind="Verification",
    component_type=None,
    description="Proof that an integration works: Org B issues a token, Org A calls Org B through its "
    "named credential.",
    notes=("Runs again only when an input changes (or the last run failed).",),
    fields=(
        alias_field("org_a", "the calling org (Org A)"),
        alias_field("org_b", "the called org (Org B)"),
        Field(
            "flow",
            "string",
            "The flow to prove.",
            default="client_credentials",
            validate=values.one_of(FLOWS),
            docs_values=", ".join(FLOWS),
        ),
        Field("token_url", "string", "Org B's token URL.", required=True, validate=values.https_url),
        Field(
            "consumer_key",
            "string",
            "Org B app's consumer key.",
            required=True,
            validate=values.non_empty_text,
        ),
        Field(
            "consumer_secret",
            "string",
            "Org B app's consumer secret (a Pulumi secret; never in outputs).",
            required=True,
            secret=True,
            validate=values.non_empty_text,
        ),
        Field(
            "named_credential",
            "string",
            "Org A's named credential to call Org B through.",
            required=True,
            validate=values.api_name,
        ),
        Field(
            "checks",
            "string",
            "Which checks: `both`, `token` (Org B issues a token: the gate before Org A takes new "
            "credentials) or `callout` (Org A calls Org B).",
            default="both",
            validate=values.one_of(CHECKS),
            docs_values=", ".join(CHECKS),
        ),
        Field(
            "api_version", "string", "API version of the callout path.", default="63.0", validate=_api_version
        ),
        Field(
            "timeout_s",
            "integer",
            "How long to retry while Org B does not know the app yet (invalid_client_id).",
            default=600,
            validate=values.integer,
        ),
        Field(
            "required",
            "boolean",
            "A failed verification fails the `up`.",
            default=True,
            validate=values.boolean,
        ),
        Field(
            "triggers",
            "list[string]",
            "Values whose change means the integration must be proved again (ids, fingerprints, hashes).",
            validate=values.string_list,
        ),
        Field("ok", "boolean", "Both checks passed.", output_only=True),
        Field("detail", "string", "What was checked and what happened (no secrets).", output_only=True),
        Field("checked_at", "string", "When (ISO 8601, UTC).", output_only=True),
        Field(
            "credentials_hash",
            "string",
            "Salted hash of key and secret (detects a change).",
            output_only=True,
        ),
        Field("credentials_salt", "string", "Salt of `credentials_hash`.", output_only=True),
    ),
)


class VerificationFailed(Exception):
    """One check failed; the message says which and why (never a secret)."""


def apex_callout(named_credential: str, api_version: str) -> str:
    """Anonymous Apex that calls Org B through the named credential and throws unless it answers 2xx."""
    return (
        "HttpRequest req = new HttpRequest();\n"
        f"req.setEndpoint('callout:{named_credential}/services/data/v{api_version}/limits');\n"
        "req.setMethod('GET');\n"
        "HttpResponse res = new Http().send(req);\n"
        "if (res.getStatusCode() < 200 || res.getStatusCode() > 299) {\n"
        "    throw new CalloutException('HTTP ' + res.getStatusCode() + ' ' + res.getStatus());\n"
        "}\n"
    )


def callout_outcome(result: Any) -> str | None:
    """None when the executeAnonymous result shows a successful callout, else why not."""
    if not isinstance(result, dict):
        return "executeAnonymous gave no result"
    if not result.get("compiled"):
        return f"the Apex did not compile: {result.get('compileProblem')}"
    if not result.get("success"):
        return str(result.get("exceptionMessage") or "the Apex failed without a message")
    response = result.get("calloutResponse")
    if isinstance(response, dict) and not 200 <= int(response.get("statusCode") or 0) <= 299:
        return f"Org B answered HTTP {response.get('statusCode')} {response.get('status') or ''}".strip()
    return None


class VerificationProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return f"Verification of '{props.get('named_credential') or '?'}'"

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = failures_for_org_pair(inputs, salesforce.configured_aliases())
        if isinstance(inputs.get("timeout_s"), int) and not 0 <= inputs["timeout_s"] <= 3600:
            failures.append(CheckFailure("timeout_s", "timeout_s: use 0 to 3600 seconds"))
        return failures

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        changed = [name for name in found.changed if name != "consumer_secret"]
        if self._secret_changed(olds, news):
            changed.append("consumer_secret")
        if olds.get("ok") is not True:
            changed.append("ok")  # the last verification failed: prove it again
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    @staticmethod
    def _secret_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
        key, secret = unwrap_secret(news.get("consumer_key")), unwrap_secret(news.get("consumer_secret"))
        if is_unknown(key) or is_unknown(secret):
            return True
        salt = olds.get("credentials_salt")
        return not salt or olds.get("credentials_hash") != credentials_hash(str(salt), str(key), str(secret))

    # -- create / update: verify ---------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        return CreateResult(
            f"{inputs['org_a']}->{inputs['org_b']}/{inputs['named_credential']}", self._verify(inputs)
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._verify(self.plain(news)))

    def _verify(self, inputs: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + float(inputs.get("timeout_s", 600))
        steps: list[str] = []
        checks = inputs.get("checks") or "both"
        try:
            if checks in ("both", "token"):
                steps.append(self._token_from_org_b(inputs, deadline))
            if checks in ("both", "callout"):
                steps.append(self._callout_from_org_a(inputs, deadline))
            ok, detail = True, "; ".join(steps)
        except VerificationFailed as failure:
            ok, detail = False, "; ".join([*steps, str(failure)])
        except salesforce.SalesforceError as err:
            ok, detail = False, "; ".join([*steps, str(err)])
        if not ok and inputs.get("required", True):
            raise salesforce.SalesforceError(
                inputs["org_a"], self.describe(inputs), None, "VERIFICATION_FAILED",
                f"{detail} (set `verify: report` on the integration to record the failure instead)",
            )  # fmt: skip
        outcome = "passed" if ok else "FAILED"
        self.log(f"{inputs['org_a']} -> {inputs['org_b']}: verification {outcome}: {detail}", warning=not ok)
        return self._outputs(inputs, ok, detail)

    def _token_from_org_b(self, inputs: dict[str, Any], deadline: float) -> str:
        """Org B issues a client-credentials token to the app; retried while the app propagates."""
        org_b = inputs["org_b"]
        conn = salesforce.Connection(
            alias=org_b,
            auth="client_credentials",
            instance_url=_origin(inputs["token_url"]),
            consumer_key=inputs["consumer_key"],
            consumer_secret=inputs["consumer_secret"],
            ca_bundle=_ca_bundle(org_b),
            api_version=inputs.get("api_version", "63.0"),
        )
        while True:
            try:
                client = salesforce.OrgClient(conn)
                break
            except salesforce.SalesforceError as err:
                every = retry_every_s()
                if err.status_code in RETRY_CODES and time.monotonic() + every < deadline:
                    self.log(f"{org_b}: the app is not known to the token endpoint yet ({err.status_code}); "
                             f"retrying in {every:.0f}s")  # fmt: skip
                    time.sleep(every)
                    continue
                raise VerificationFailed(
                    f"Org B '{org_b}' refused a client-credentials token: {err.status_code}: {err.message}"
                ) from None
        client.rest("GET", "limits")  # the token really opens the API
        key_start = inputs["consumer_key"][:8]
        return f"Org B '{org_b}' issued a client-credentials token to {key_start}... at {inputs['token_url']}"

    def _callout_from_org_a(self, inputs: dict[str, Any], deadline: float) -> str:
        """Org A runs anonymous Apex that calls Org B through the named credential."""
        org_a, name = inputs["org_a"], inputs["named_credential"]
        client = salesforce.org(org_a)
        apex = apex_callout(name, inputs.get("api_version", "63.0"))
        while True:
            result = client.rest("GET", "tooling/executeAnonymous/", params={"anonymousBody": apex})
            problem = callout_outcome(result)
            if problem is None:
                return f"Org A '{org_a}' called Org B through callout:{name} (HTTP 2xx)"
            every = retry_every_s()
            if any(code in problem for code in RETRY_CODES) and time.monotonic() + every < deadline:
                self.log(f"{org_a}: callout through {name} not accepted yet; retrying in {every:.0f}s")
                time.sleep(every)
                continue
            raise VerificationFailed(
                f"Org A '{org_a}' could not call Org B through callout:{name}: {problem}"
                + (NO_ACCESS_HINT if NO_ACCESS_WORDS in problem else "")
            )

    @staticmethod
    def _outputs(inputs: dict[str, Any], ok: bool, detail: str) -> dict[str, Any]:
        outs = {key: value for key, value in inputs.items() if key != "consumer_secret"}
        salt = secrets.token_hex(16)
        outs.update(
            ok=ok,
            detail=detail,
            checked_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            credentials_salt=salt,
            credentials_hash=credentials_hash(salt, inputs["consumer_key"], inputs["consumer_secret"]),
        )
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # A refresh does not re-verify (it would call both orgs); the last result stands.
        return ReadResult(
            id_, {key: value for key, value in self.plain(props).items() if key != "consumer_secret"}
        )

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing exists in either org for a verification."""


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _ca_bundle(alias: str) -> str | None:
    """The CA bundle Org B's connection trusts (the emulator's CA for a local org)."""
    verify = salesforce.org(alias).session.verify
    return verify if isinstance(verify, str) else None


class Verification(OrglinkResource[VerificationArgs], module="salesforce", name="Verification"):
    """Proof that an integration works. Type token: ``pulumi-python:dynamic/salesforce:Verification``."""

    ok: pulumi.Output[bool]
    flow: pulumi.Output[str]
    detail: pulumi.Output[str]
    checked_at: pulumi.Output[str]

    provider_class = VerificationProvider

    def prepare(self, resource_name: str, props: dict[str, Any]) -> None:
        if props.get("consumer_secret") is not None:
            props["consumer_secret"] = pulumi.Output.secret(props["consumer_secret"])
