"""PrincipalCredential: the client id and secret of an external credential's named principal.

Principal credentials are not metadata: they live behind the Connect REST resource
``/services/data/vXX.X/named-credentials/credential`` (POST create, PUT replace, GET, DELETE).
Salesforce never returns the secret, and orglink never stores it in outputs either: the outputs
keep a salted HMAC-SHA256 of (client id, secret), and diff compares the new values against it, so a
changed secret (Org B's app replaced, a rotated key) is set again while an unchanged one makes no
call. The ``client_secret`` input is a Pulumi secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, is_unknown, org_field, unwrap_secret
from providers.org_a.external_credential import CLIENT_CREDENTIALS_VARIANTS

RESOURCE_PATH = "named-credentials/credential"
PRINCIPAL_TYPE = "NamedPrincipal"
NOT_CONFIGURED = "NotConfigured"


class PrincipalCredentialArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    external_credential: pulumi.Input[str]
    principal_name: pulumi.Input[str]
    variant: pulumi.Input[str]
    client_id: pulumi.Input[str]
    client_secret: pulumi.Input[str]


SCHEMA = Schema(
    kind="PrincipalCredential",
    component_type=None,
    description="The client id and secret of a named principal (External Credential > Principals > "
    "Authentication Parameters).",
    notes=(
        "The secret is never read back: outputs keep only a salted hash, and a change of id or secret "
        "sets both again.",
        "Delete removes the stored credentials from the principal.",
    ),
    fields=(
        org_field(),
        Field(
            "external_credential",
            "string",
            "API name of the external credential (pass its `api_name` output).",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        Field(
            "principal_name",
            "string",
            "Name of the named principal (pass the external credential's `principal_name` output).",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        Field(
            "variant",
            "string",
            "Client credentials variant, as on the external credential.",
            default=CLIENT_CREDENTIALS_VARIANTS[0],
            validate=values.one_of(CLIENT_CREDENTIALS_VARIANTS),
            docs_values=", ".join(CLIENT_CREDENTIALS_VARIANTS),
        ),
        Field(
            "client_id",
            "string",
            "Client id: Org B's consumer key.",
            required=True,
            validate=values.non_empty_text,
        ),
        Field(
            "client_secret",
            "string",
            "Client secret: Org B's consumer secret (a Pulumi secret; never stored in outputs).",
            required=True,
            secret=True,
            validate=values.non_empty_text,
        ),
        Field(
            "credentials_hash",
            "string",
            "HMAC-SHA256 of client id and secret under `credentials_salt`: detects a change.",
            output_only=True,
        ),
        Field("credentials_salt", "string", "Random salt of `credentials_hash`.", output_only=True),
        Field(
            "authentication_status",
            "string",
            "What Salesforce reports: Configured, NotConfigured or Unknown.",
            output_only=True,
        ),
    ),
)


def credentials_hash(salt: str, client_id: str, client_secret: str) -> str:
    """A keyed hash: the state shows whether the secret changed, never what it is."""
    message = f"{client_id}\0{client_secret}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()


def _query(state: dict[str, Any]) -> dict[str, str]:
    return {
        "externalCredential": state["external_credential"],
        "principalName": state["principal_name"],
        "principalType": PRINCIPAL_TYPE,
    }


def _stored_status(client: salesforce.OrgClient, state: dict[str, Any]) -> dict[str, Any] | None:
    """What the org answers for this principal's credentials, or None when it holds none: a 404
    and a 200 with `authenticationStatus: NotConfigured` both mean nothing is stored."""
    try:
        answer = client.rest("GET", RESOURCE_PATH, params=_query(state))
    except salesforce.SalesforceError as err:
        if salesforce.is_not_found(err):
            return None
        raise
    if not isinstance(answer, dict) or answer.get("authenticationStatus") == NOT_CONFIGURED:
        return None
    return answer


def _body(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "externalCredential": inputs["external_credential"],
        "principalName": inputs["principal_name"],
        "principalType": PRINCIPAL_TYPE,
        "authenticationProtocol": "OAuth",
        "authenticationProtocolVariant": inputs.get("variant") or CLIENT_CREDENTIALS_VARIANTS[0],
        "credentials": {
            "clientId": {"value": inputs["client_id"], "encrypted": False},
            "clientSecret": {"value": inputs["client_secret"], "encrypted": True},
        },
    }


class PrincipalCredentialProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        principal = f"{props.get('external_credential') or '?'}-{props.get('principal_name') or '?'}"
        return f"PrincipalCredential '{principal}'"

    # -- diff: the secret is compared through the stored hash ----------------------------------------

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        changed = [name for name in found.changed if name not in ("client_id", "client_secret")]
        if self._credentials_changed(olds, news):
            changed.append("client_secret")
        replaces = [name for name in changed if name in found.replaces]
        # One principal holds one set of credentials: delete the old set before the new one.
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    @staticmethod
    def _credentials_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
        client_id, client_secret = (
            unwrap_secret(news.get("client_id")),
            unwrap_secret(news.get("client_secret")),
        )
        if is_unknown(client_id) or is_unknown(client_secret):
            return True
        salt, stored = olds.get("credentials_salt"), olds.get("credentials_hash")
        if not salt or not stored:
            return True
        return not hmac.compare_digest(
            str(stored), credentials_hash(str(salt), str(client_id), str(client_secret))
        )

    # -- create / update: POST or PUT the whole credential -------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            outs = self._set(inputs, first="POST")
        return CreateResult(
            f"{inputs['org']}/{inputs['external_credential']}-{inputs['principal_name']}", outs
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        new = self.plain(news)
        with self.reporting(new):
            outs = self._set(new, first="PUT")
        return UpdateResult(outs)

    def _set(self, inputs: dict[str, Any], first: str) -> dict[str, Any]:
        """Store the credentials: POST when nothing is stored, PUT when something is.

        `first` is the guess (create: POST, update: PUT). When the org refuses it, orglink asks the
        org what it holds instead of reading the refusal: orgs answer a second POST with
        `DUPLICATE_VALUE` or with another code, and "nothing stored" with a 404 or with a 200
        `NotConfigured`. Only when the answer shows the guess was wrong is the other method sent;
        any other refusal is the user's to see.
        """
        client = salesforce.org(inputs["org"])
        body = _body(inputs)
        self.log(f"{client.alias}: setting the credentials of {self.describe(inputs)}")
        try:
            answer = client.rest(first, RESOURCE_PATH, json=body)
        except salesforce.SalesforceError as err:
            if err.status_code in salesforce.TRANSIENT_CODES or err.status_code in salesforce.SESSION_CODES:
                raise
            stored = _stored_status(client, inputs) is not None
            if stored == (first == "PUT"):
                raise  # the guess was right, so the refusal is about something else
            answer = client.rest("PUT" if stored else "POST", RESOURCE_PATH, json=body)
        salt = secrets.token_hex(16)
        return self._outputs(inputs, salt, answer if isinstance(answer, dict) else {})

    @staticmethod
    def _outputs(state: dict[str, Any], salt: str, answer: dict[str, Any]) -> dict[str, Any]:
        outs = {
            key: state[key]
            for key in ("org", "external_credential", "principal_name", "variant", "client_id")
            if state.get(key)
        }
        outs["credentials_salt"] = salt
        outs["credentials_hash"] = credentials_hash(salt, state["client_id"], state["client_secret"])
        outs["authentication_status"] = str(answer.get("authenticationStatus") or "Unknown")
        return outs

    # -- read: the status only (the secret is never returned) ----------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            answer = _stored_status(salesforce.org(state["org"]), state)
        if answer is None:
            return ReadResult("", {})  # nothing stored: the next `up` sets the credentials again
        outs = {key: value for key, value in state.items() if key != "client_secret"}
        outs["authentication_status"] = str(answer.get("authenticationStatus") or "Unknown")
        client_id = ((answer.get("credentials") or {}).get("clientId") or {}).get("value")
        if client_id and client_id != state.get("client_id"):
            # Changed outside Pulumi: the stored hash no longer describes the org, so the next
            # `up` sets the credentials again.
            outs["client_id"] = client_id
            outs["credentials_hash"] = ""
        return ReadResult(id_, outs)

    # -- delete --------------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        try:
            client = salesforce.org(state["org"])
            self.log(f"{client.alias}: removing the credentials of {self.describe(state)}")
            client.rest("DELETE", RESOURCE_PATH, params=_query(state))
        except salesforce.SalesforceError as err:
            if salesforce.is_not_found(err):
                return  # already gone, e.g. with its external credential
            raise self.fail(state, err) from None


class PrincipalCredential(
    OrglinkResource[PrincipalCredentialArgs], module="salesforce", name="PrincipalCredential"
):
    """Named principal credentials. Type token: ``pulumi-python:dynamic/salesforce:PrincipalCredential``."""

    org: pulumi.Output[str]
    external_credential: pulumi.Output[str]
    principal_name: pulumi.Output[str]
    client_id: pulumi.Output[str]
    credentials_hash: pulumi.Output[str]
    authentication_status: pulumi.Output[str]

    provider_class = PrincipalCredentialProvider

    def prepare(self, resource_name: str, props: dict[str, Any]) -> None:
        # The secret is an input only; make sure it is a Pulumi secret even if a plain value is given.
        if props.get("client_secret") is not None:
            props["client_secret"] = pulumi.Output.secret(props["client_secret"])
