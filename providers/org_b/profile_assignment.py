"""Profile (or permission set) access to an Org B app, for either app model.

Access is a ``SetupEntityAccess`` record whose parent is the profile's own permission set (or the
permission set itself) and whose SetupEntityId is the app's record (``ConnectedApplication`` or
``ExternalClientApplication``). A resource creates and deletes exactly that record and nothing
else. An access that already existed is adopted and left in place on delete (``pre_existing``), so
a destroy leaves the org as it was. The family modules give the schema's texts and the
:class:`~providers.org_b.app_model.AppModel`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import ArgsT, OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, org_field
from providers.org_b.app_model import AppModel
from providers.org_b.app_part import app_field, app_id_field
from providers.salesforce.records import (
    find_permission_set,
    find_row,
    insert_row,
    profile_permission_set,
    quoted,
)

SOBJECT = "SetupEntityAccess"


def profile_assignment_schema(
    kind: str, description: str, model: AppModel, record_type: str, where: tuple[str, ...] = ()
) -> Schema:
    """The schema of an app model's profile access; ``where`` adds notes on where access is kept."""
    return Schema(
        kind=kind,
        component_type=None,
        description=description,
        notes=(
            "Set exactly one of `profile` and `permission_set`.",
            *where,
            "The app's policy should say `permitted_users: AdminApprovedPreAuthorized` for the access to "
            "pre-authorize users: make this resource depend on the policy.",
            "An access that already existed is adopted and left in place on delete.",
        ),
        fields=_fields(model, record_type),
    )


def _fields(model: AppModel, record_type: str) -> tuple[Field, ...]:
    return (
        org_field(),
        app_field(model.noun),
        app_id_field(),
        Field(
            "profile",
            "string",
            "Profile name as shown in Setup, e.g. System Administrator.",
            validate=values.non_empty_text,
        ),
        Field(
            "permission_set",
            "string",
            "API name of a permission set (instead of a profile).",
            validate=values.api_name,
        ),
        Field(
            "access_id",
            "string",
            "Id of the SetupEntityAccess record (also the resource id).",
            output_only=True,
        ),
        Field("parent_id", "string", "Id of the permission set that holds the access.", output_only=True),
        Field("setup_entity_id", "string", f"Id of the app's {record_type} record.", output_only=True),
        Field("pre_existing", "boolean", "The access existed before; delete leaves it.", output_only=True),
    )


class ProfileAssignmentProvider(OrglinkProvider):
    """Grants one profile or permission set access to the app of ``model``."""

    model: ClassVar[AppModel]

    def describe(self, props: dict[str, Any]) -> str:
        holder = props.get("profile") or props.get("permission_set") or "?"
        return f"{self.schema.kind} '{holder}' on '{props.get('app', '?')}'"

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        has_profile, has_set = "profile" in inputs, "permission_set" in inputs
        if has_profile == has_set:
            reason = "profile: set exactly one of `profile` (e.g. System Administrator) and `permission_set`"
            return [CheckFailure("profile", reason)]
        return []

    # -- lookups ---------------------------------------------------------------------------------

    @staticmethod
    def _parent_id(client: salesforce.OrgClient, inputs: dict[str, Any]) -> str:
        if inputs.get("profile"):
            name = inputs["profile"]
            return profile_permission_set(
                client,
                name,
                f"there is no profile '{name}'; use the name shown in Setup > Profiles "
                "(e.g. System Administrator)",
            )
        return find_permission_set(client, inputs["permission_set"], " (Setup > Permission Sets shows it)")

    @staticmethod
    def _find_access(client: salesforce.OrgClient, parent_id: str, entity_id: str) -> str | None:
        return find_row(client, SOBJECT, {"ParentId": parent_id, "SetupEntityId": entity_id})

    # -- create / read / update / delete ---------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            outs = self._grant(inputs)
        return CreateResult(outs["access_id"], outs)

    def _grant(self, inputs: dict[str, Any]) -> dict[str, Any]:
        client = salesforce.org(inputs["org"])
        parent_id = self._parent_id(client, inputs)
        app_type = self.model.metadata_type
        # No lock on the app: an access row is a record of its own, which the app's component writes
        # (its policy, run-as user) neither read nor replace, so it is inserted while they are made.
        entity_id = self.model.record_id(client, inputs["app"], inputs.get("app_id"))
        # An app this operation created has no access rows to look for: insert at once.
        new_app = client.created_here(app_type, inputs["app"])
        access_id = None if new_app else self._find_access(client, parent_id, entity_id)
        if access_id is not None:
            self.log(f"{client.alias}: {self.describe(inputs)} already exists; adopting it")
            return self._outputs(inputs, access_id, parent_id, entity_id, pre_existing=True)
        self.log(f"{client.alias}: granting {self.describe(inputs)}")
        access_id, was_there = insert_row(
            client, SOBJECT, {"ParentId": parent_id, "SetupEntityId": entity_id}
        )
        # A row the insert found: on an app we just searched, our own retried insert; on a new app,
        # somebody's grant, which we never take (it goes with the app anyway).
        return self._outputs(inputs, access_id, parent_id, entity_id, pre_existing=was_there and new_app)

    @staticmethod
    def _outputs(
        inputs: dict[str, Any], access_id: str, parent_id: str, entity_id: str, pre_existing: bool
    ) -> dict[str, Any]:
        outs = {k: inputs[k] for k in ("org", "app", "app_id", "profile", "permission_set") if inputs.get(k)}
        outs.update(
            access_id=access_id, parent_id=parent_id, setup_entity_id=entity_id, pre_existing=pre_existing
        )
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            client = salesforce.org(state["org"])
            rows = client.query(f"SELECT Id, ParentId, SetupEntityId FROM {SOBJECT} WHERE Id = {quoted(id_)}")
        if not rows:
            return ReadResult("", {})
        row = rows[0]
        outs = self._outputs(state, id_, str(row["ParentId"]), str(row["SetupEntityId"]),
                             bool(state.get("pre_existing")))  # fmt: skip
        return ReadResult(id_, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = self.plain(olds), self.plain(news)
        with self.reporting(new):
            outs = self._grant(new)
            if outs["access_id"] != old.get("access_id"):
                self._revoke(old)
            elif old.get("pre_existing"):
                outs["pre_existing"] = True
        return UpdateResult(outs)

    def _revoke(self, state: dict[str, Any]) -> None:
        if state.get("pre_existing") or not state.get("access_id"):
            self.log(f"{state['org']}: leaving {self.describe(state)} (it existed before)")
            return
        client = salesforce.org(state["org"])
        self.log(f"{client.alias}: removing {self.describe(state)}")
        client.delete_record(SOBJECT, state["access_id"])

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        with self.reporting(state):
            self._revoke(state)


class ProfileAssignmentResource(OrglinkResource[ArgsT]):
    """Profile access to an app of either model: the outputs both have."""

    org: pulumi.Output[str]
    app: pulumi.Output[str]
    access_id: pulumi.Output[str]
    parent_id: pulumi.Output[str]
    setup_entity_id: pulumi.Output[str]
    pre_existing: pulumi.Output[bool]
