"""PrincipalAccess: lets a permission set's users call through an external credential's principal.

Salesforce grants access to a named principal with an ``externalCredentialPrincipalAccesses`` entry
(``<ExternalCredential>-<Principal>``) in a permission set (Metadata API type ``PermissionSet``).
This resource owns that one entry. When the permission set does not exist it creates it (and deletes
it again on destroy); in a permission set that already exists it adds only its entry, by read, merge,
write under the component lock, and removes only that entry on destroy (an entry that was already
there is left in place).
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, label_field, org_field
from providers.framework.whole_component import DUPLICATE_CODES

METADATA_TYPE = "PermissionSet"
ACCESS_LIST = "externalCredentialPrincipalAccesses"


class PrincipalAccessArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    permission_set: pulumi.Input[str]
    label: pulumi.Input[str]
    principal: pulumi.Input[str]


def _principal_ref(value: Any) -> str:
    ref = values.non_empty_text(value)
    external, _, principal = ref.partition("-")
    try:
        values.api_name(external)
        values.api_name(principal)
    except ValueError:
        raise ValueError(
            f"'{ref}' is not <ExternalCredential>-<Principal> (pass the external credential's "
            "`principal` output)"
        ) from None
    return ref


SCHEMA = Schema(
    kind="PrincipalAccess",
    component_type=METADATA_TYPE,
    description="Access to an external credential's principal through a permission set "
    "(Permission Set > External Credential Principal Access).",
    notes=(
        "A permission set that does not exist is created (label from `label`) and deleted on destroy.",
        "Users still need the permission set assigned to call through the named credential.",
    ),
    fields=(
        org_field(),
        Field(
            "permission_set",
            "string",
            "API name of the permission set that grants the access.",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        label_field(path=None, shown_as="Label of the permission set when this resource creates it"),
        Field(
            "principal",
            "string",
            "`<ExternalCredential>-<Principal>`: the external credential's `principal` output.",
            required=True,
            replaces=True,
            validate=_principal_ref,
        ),
        Field(
            "created_permission_set",
            "boolean",
            "This resource created the permission set (and deletes it on destroy).",
            output_only=True,
        ),
        Field(
            "pre_existing",
            "boolean",
            "The access was already in the permission set; destroy leaves it.",
            output_only=True,
        ),
    ),
)


def _entries(component: dict[str, Any]) -> list[dict[str, Any]]:
    raw = component.get(ACCESS_LIST) or []
    return [dict(entry) for entry in (raw if isinstance(raw, list) else [raw]) if isinstance(entry, dict)]


def _has_access(component: dict[str, Any], principal: str) -> bool:
    return any(
        str(e.get("externalCredentialPrincipal", "")).lower() == principal.lower()
        and values.boolean(e.get("enabled", True))
        for e in _entries(component)
    )


def _with_access(component: dict[str, Any], principal: str) -> dict[str, Any]:
    others = [
        e
        for e in _entries(component)
        if str(e.get("externalCredentialPrincipal", "")).lower() != principal.lower()
    ]
    component[ACCESS_LIST] = [*others, {"enabled": True, "externalCredentialPrincipal": principal}]
    return component


def _label(inputs: dict[str, Any]) -> str:
    return str(inputs.get("label") or values.label_from_api_name(inputs["permission_set"]))


def _is_as_created(component: dict[str, Any], label: str, principal: str) -> bool:
    """The permission set holds nothing but what this resource's create puts in: its label and
    the one principal access. Anybody's real permission set holds more, or another label."""
    entries = [
        (str(e.get("externalCredentialPrincipal", "")).lower(), values.boolean(e.get("enabled", True)))
        for e in _entries(component)
    ]
    others = {k: v for k, v in component.items() if k not in ("fullName", "label", ACCESS_LIST)}
    return (
        component.get("label") == label
        and entries == [(principal.lower(), True)]
        and not any(v not in (None, False, "", [], {}) for v in others.values())
    )


def _without_access(component: dict[str, Any], principal: str) -> dict[str, Any]:
    kept = [
        e
        for e in _entries(component)
        if str(e.get("externalCredentialPrincipal", "")).lower() != principal.lower()
    ]
    if kept:
        component[ACCESS_LIST] = kept
    else:
        component.pop(ACCESS_LIST, None)
    return component


class PrincipalAccessProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return f"PrincipalAccess '{props.get('principal') or '?'}' in '{props.get('permission_set') or '?'}'"

    # -- create --------------------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            outs = self._grant(inputs)
        return CreateResult(f"{inputs['org']}/{inputs['permission_set']}/{inputs['principal']}", outs)

    def _grant(self, inputs: dict[str, Any]) -> dict[str, Any]:
        client = salesforce.org(inputs["org"])
        name, principal = inputs["permission_set"], inputs["principal"]
        with salesforce.component_lock(client.alias, METADATA_TYPE, name):
            # Create first: the permission set is usually this stack's own and new, and reading
            # before every create cost a request; a taken name is read and merged into instead.
            self.log(f"{client.alias}: granting {self.describe(inputs)} (creating the permission set if new)")
            wanted = _with_access({"fullName": name, "label": _label(inputs)}, principal)
            result = client.create_metadata(METADATA_TYPE, [wanted])[0]
            if result.success:
                client.remember_component(METADATA_TYPE, name, wanted)
                return self._outputs(inputs, created=True, pre_existing=False)
            if not any(p.status_code in DUPLICATE_CODES for p in result.problems):
                raise result.error(client.alias, "create PermissionSet")
            current = client.read_component(METADATA_TYPE, name)
            if current is None:
                raise result.error(client.alias, "create PermissionSet")
            if _is_as_created(current, _label(inputs), principal):
                # Exactly the permission set this resource creates (its name carries the stack):
                # the leftover of an interrupted `pulumi up`. Own it, so destroy removes it.
                self.log(f"{client.alias}: PermissionSet {name} already exists as this resource creates it; "
                         "taking it over")  # fmt: skip
                return self._outputs(inputs, created=True, pre_existing=False)
            if _has_access(current, principal):
                self.log(f"{client.alias}: {self.describe(inputs)} already exists; it stays on destroy")
                return self._outputs(inputs, created=False, pre_existing=True)
            self.log(f"{client.alias}: granting {self.describe(inputs)}")
            client.update_component(METADATA_TYPE, _with_access(current, principal))
        return self._outputs(inputs, created=False, pre_existing=False)

    @staticmethod
    def _outputs(state: dict[str, Any], created: bool, pre_existing: bool) -> dict[str, Any]:
        outs = {key: state[key] for key in ("org", "permission_set", "label", "principal") if state.get(key)}
        outs.update(created_permission_set=created, pre_existing=pre_existing)
        return outs

    # -- read ----------------------------------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            current = salesforce.org(state["org"]).read_component(METADATA_TYPE, state["permission_set"])
        if current is None or not _has_access(current, state["principal"]):
            return ReadResult("", {})  # the access (or its permission set) was removed outside Pulumi
        outs = self._outputs(
            state, bool(state.get("created_permission_set")), bool(state.get("pre_existing"))
        )
        return ReadResult(id_, outs)

    # -- update: only the label of a permission set we created can change in place -------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = self.plain(olds), self.plain(news)
        created = bool(old.get("created_permission_set"))
        with self.reporting(new):
            if created and new.get("label"):
                self._relabel(new)
        return UpdateResult(self._outputs(new, created, bool(old.get("pre_existing"))))

    def _relabel(self, state: dict[str, Any]) -> None:
        def relabel(component: dict[str, Any]) -> dict[str, Any]:
            component["label"] = state["label"]
            return component

        salesforce.modify_component(
            state["org"], METADATA_TYPE, state["permission_set"], relabel, self.describe(state)
        )

    # -- delete --------------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        with self.reporting(state):
            self._revoke(state)

    def _revoke(self, state: dict[str, Any]) -> None:
        client = salesforce.org(state["org"])
        name, principal = state["permission_set"], state["principal"]
        if state.get("pre_existing"):
            self.log(f"{client.alias}: leaving {self.describe(state)} (it existed before)")
            return
        with salesforce.component_lock(client.alias, METADATA_TYPE, name):
            if state.get("created_permission_set"):
                self.log(f"{client.alias}: deleting PermissionSet {name}")
                client.delete_component(METADATA_TYPE, name)
                return
            current = client.read_component(METADATA_TYPE, name)
            if current is None or not _has_access(current, principal):
                return
            self.log(f"{client.alias}: removing {self.describe(state)}")
            client.update_component(METADATA_TYPE, _without_access(current, principal))


class PrincipalAccess(OrglinkResource[PrincipalAccessArgs], module="salesforce", name="PrincipalAccess"):
    """Principal access in a permission set.

    Type token: ``pulumi-python:dynamic/salesforce:PrincipalAccess``.
    """

    org: pulumi.Output[str]
    permission_set: pulumi.Output[str]
    principal: pulumi.Output[str]
    created_permission_set: pulumi.Output[bool]

    provider_class = PrincipalAccessProvider
