"""Certificate: Org A's signing certificate (Metadata API type ``Certificate``), made by the org itself.

Salesforce generates the key pair of a certificate and never lets the private key out (no API
imports or exports it), so the public certificate that Org B's app trusts is read back from Org A
after the certificate exists there. Outputs: the PEM, its SHA-256 fingerprint and its expiry.

``existing: <name>`` uses a certificate Org A already has instead: nothing is created, and delete
leaves it in place.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC
from typing import Any, TypedDict

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, label_field, org_field
from providers.framework.whole_component import create_or_take_over

METADATA_TYPE = "Certificate"
KEY_SIZES = (2048, 4096)


class CertificateArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    api_name: pulumi.Input[str]
    label: pulumi.Input[str]
    key_size: pulumi.Input[int]
    existing: pulumi.Input[str]


def _key_size(value: Any) -> int:
    size = values.integer(value)
    if size not in KEY_SIZES:
        raise ValueError(f"{size} is not a key size Salesforce offers; use 2048 or 4096")
    return size


SCHEMA = Schema(
    kind="Certificate",
    component_type=METADATA_TYPE,
    description="A self-signed certificate created in an org (Setup > Certificate and Key Management).",
    notes=(
        "The org generates the key pair; the private key never leaves it. Outputs carry the public "
        "certificate (PEM), its SHA-256 fingerprint and expiry.",
        "Set exactly one of `api_name` (create one) and `existing` (use one the org already has; "
        "never deleted).",
        "Changing `api_name`, `key_size` or `existing` replaces the certificate; apps that trust it "
        "receive the new one through their `certificate` input.",
    ),
    fields=(
        org_field(),
        Field(
            "api_name",
            "string",
            "Unique name of the certificate to create, e.g. CarrierAPI_App_dev.",
            path="fullName",
            replaces=True,
            validate=values.api_name,
        ),
        label_field(path="masterLabel"),
        Field(
            "key_size",
            "integer",
            "RSA key size: 2048 or 4096.",
            path="keySize",
            default=2048,
            replaces=True,
            validate=_key_size,
            from_salesforce=values.integer,
            docs_values="2048, 4096",
        ),
        Field(
            "existing",
            "string",
            "Unique name of a certificate the org already has: use it instead of creating one.",
            replaces=True,
            validate=values.api_name,
        ),
        Field("name", "string", "Unique name of the certificate in use.", output_only=True),
        Field("certificate", "string", "The public certificate (PEM).", output_only=True),
        Field(
            "fingerprint_sha256",
            "string",
            "SHA-256 fingerprint of the certificate (uppercase hex pairs joined by ':').",
            output_only=True,
        ),
        Field("expires", "string", "Expiry of the certificate (ISO 8601, UTC).", output_only=True),
    ),
)


def parse_content(content: Any) -> x509.Certificate | None:
    """The certificate in a Certificate's `content`: PEM, base64 DER (a .crt body) or raw DER bytes."""
    raw = content if isinstance(content, bytes) else str(content or "").encode()
    if not raw:
        return None
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        try:
            der = base64.b64decode(b"".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            der = raw
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def describe_certificate(cert: x509.Certificate) -> dict[str, str]:
    return {
        "certificate": cert.public_bytes(Encoding.PEM).decode().strip() + "\n",
        "fingerprint_sha256": fingerprint(cert),
        "expires": cert.not_valid_after_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _as_created(component: dict[str, Any]) -> tuple[Any, ...]:
    """What a create decides about a self-signed certificate (the org adds content and expiry)."""
    return (
        str(component.get("masterLabel") or ""),
        values.integer(component.get("keySize") or 0),
        bool(component.get("caSigned")),
        bool(component.get("privateKeyExportable")),
    )


class CertificateProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return f"Certificate '{props.get('existing') or props.get('api_name') or '?'}'"

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        has_name, has_existing = bool(inputs.get("api_name")), bool(inputs.get("existing"))
        if has_name == has_existing:
            return [
                CheckFailure(
                    "api_name",
                    "set exactly one of api_name (create a certificate) and existing "
                    "(use a certificate the org already has)",
                )
            ]
        if has_name:
            values.default_label(inputs)
        return []

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        if news.get("existing"):
            # An existing certificate's label and key size are not ours to change.
            changed = [name for name in found.changed if name in ("org", "existing", "api_name")]
        else:
            changed = list(found.changed)
        replaces = [name for name in changed if name in found.replaces]
        # One name cannot be held by two certificates: a replacement under the same name deletes first.
        same_name = "api_name" not in changed and "org" not in changed and not news.get("existing")
        return DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces) and same_name
        )

    # -- create --------------------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            client = salesforce.org(inputs["org"])
            name = inputs.get("existing") or inputs["api_name"]
            with salesforce.component_lock(client.alias, METADATA_TYPE, name):
                if not inputs.get("existing"):
                    self._create_in_org(client, inputs)
                outs = self._outputs(client, inputs)
        if outs is None:
            raise self.fail(
                inputs,
                salesforce.SalesforceError(
                    inputs["org"], None, "existing" if inputs.get("existing") else "api_name", "NOT_FOUND",
                    f"there is no certificate '{name}' in the org (Setup > Certificate and Key "
                    "Management shows the Unique Name)",
                ),
            )  # fmt: skip
        return CreateResult(f"{inputs['org']}/{name}", outs)

    def _create_in_org(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> None:
        name = inputs["api_name"]
        component = {
            "fullName": name,
            "masterLabel": inputs.get("label") or values.label_from_api_name(name),
            "caSigned": False,
            "keySize": int(inputs.get("key_size", 2048)),  # numbers reach providers as floats
            "privateKeyExportable": False,
        }
        # Exactly what this resource creates (its name carries the stack, its label the integration)
        # is our own retried create or the leftover of an interrupted `pulumi up`; its key pair
        # never left the org, so it is as good as a new one and is taken over. The org adds the key
        # pair and content, so the component is not remembered as written.
        create_or_take_over(
            client, METADATA_TYPE, component, _as_created, self.log,
            taken_hint=f"use `existing: {name}` to use it, or choose another api_name",
        )  # fmt: skip

    # -- read ----------------------------------------------------------------------------------------

    def _outputs(self, client: salesforce.OrgClient, state: dict[str, Any]) -> dict[str, Any] | None:
        """Live state of the certificate as outputs; None when it does not exist."""
        name = state.get("existing") or state["api_name"]
        component = client.read_component(METADATA_TYPE, name)
        if component is None:
            return None
        cert = parse_content(component.get("content"))
        if cert is None:
            raise salesforce.SalesforceError(
                client.alias, None, None, "INVALID_CERTIFICATE",
                f"certificate '{name}' has no readable X.509 content (is it a key pair without a "
                "certificate?)",
            )  # fmt: skip
        outs: dict[str, Any] = {"org": client.alias, "name": name, **describe_certificate(cert)}
        if state.get("existing"):
            outs["existing"] = name
        else:
            outs.update(SCHEMA.read(component))
            outs["api_name"] = name
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            outs = self._outputs(salesforce.org(state["org"]), state)
        return ReadResult(id_, outs) if outs is not None else ReadResult("", {})

    # -- update: only the label can change in place ---------------------------------------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        new = self.plain(news)
        with self.reporting(new):
            client = salesforce.org(new["org"])
            if not new.get("existing"):
                self._set_label(client, new)
            outs = self._outputs(client, new)
        if outs is None:
            raise self.fail(new, self._gone(new))
        return UpdateResult(outs)

    def _set_label(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> None:
        def relabel(component: dict[str, Any]) -> dict[str, Any]:
            # The org keeps the key pair and content on update; send only what may change.
            keep: dict[str, Any] = {
                k: component[k] for k in ("fullName", "caSigned", "privateKeyExportable") if k in component
            }
            return {**keep, "masterLabel": inputs["label"], "keySize": component.get("keySize")}

        self.log(f"{client.alias}: relabelling Certificate {inputs['api_name']}")
        salesforce.modify_component(
            client.alias, METADATA_TYPE, inputs["api_name"], relabel, self.describe(inputs)
        )

    def _gone(self, state: dict[str, Any]) -> salesforce.SalesforceError:
        return salesforce.SalesforceError(
            state["org"], None, None, "NOT_FOUND",
            "the certificate no longer exists; run `pulumi refresh` and `pulumi up` to create it again",
        )  # fmt: skip

    # -- delete --------------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        if state.get("existing"):
            self.log(f"{state['org']}: leaving existing Certificate {state['existing']} in place")
            return
        with self.reporting(state):
            client = salesforce.org(state["org"])
            with salesforce.component_lock(client.alias, METADATA_TYPE, state["api_name"]):
                self.log(f"{client.alias}: deleting Certificate {state['api_name']}")
                client.delete_component(METADATA_TYPE, state["api_name"])


class Certificate(OrglinkResource[CertificateArgs], module="salesforce", name="Certificate"):
    """A certificate in an org. Type token: ``pulumi-python:dynamic/salesforce:Certificate``."""

    org: pulumi.Output[str]
    name: pulumi.Output[str]
    certificate: pulumi.Output[str]
    fingerprint_sha256: pulumi.Output[str]
    expires: pulumi.Output[str]

    provider_class = CertificateProvider
