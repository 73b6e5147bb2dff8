"""PermissionSetAssignment: gives one user of Org A a permission set, so that user's Apex may call out.

A permission set carrying an external credential principal's access does nothing until it is
assigned: at run time Salesforce checks that the user whose code calls through the named credential
holds the access, and refuses the callout otherwise (``System.CalloutException: We couldn't access
the credential(s)...``). This resource owns one ``PermissionSetAssignment`` record (a user and a
permission set) and nothing else.

An assignment that existed before orglink is adopted and left in place on destroy (``pre_existing``),
so a destroy leaves the org as it was. The one exception is a permission set this stack created
itself (``owned_permission_set``, from PrincipalAccess's ``created_permission_set``): nobody else
had it before orglink made it, so an assignment found there is this stack's own (the leftover of an
interrupted `up`, or one made by hand since) and goes on destroy, together with the permission set.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider, OrglinkResource
from providers.framework.schema import Field, Schema, org_field
from providers.salesforce.records import active_user, find_permission_set, find_row, insert_row, quoted

SOBJECT = "PermissionSetAssignment"


class PermissionSetAssignmentArgs(TypedDict, total=False):
    org: pulumi.Input[str]
    permission_set: pulumi.Input[str]
    username: pulumi.Input[str]
    owned_permission_set: pulumi.Input[bool]


SCHEMA = Schema(
    kind="PermissionSetAssignment",
    component_type=None,
    description="One user's assignment of a permission set (Setup > Users > Permission Set Assignments).",
    notes=(
        "The integration assigns its principal-access permission set to each of `callout_users`.",
        "An assignment that already existed is adopted and left in place on delete, unless the "
        "permission set is this stack's own (`owned_permission_set`).",
    ),
    fields=(
        org_field(),
        Field(
            "permission_set",
            "string",
            "API name of the permission set to assign (not a profile's own).",
            required=True,
            replaces=True,
            validate=values.api_name,
        ),
        Field(
            "username",
            "string",
            "Username of the active user who gets the permission set.",
            required=True,
            replaces=True,
            validate=values.salesforce_username,
        ),
        Field(
            "owned_permission_set",
            "boolean",
            "The permission set was created by this stack: an assignment found in it is taken over "
            "and deleted on destroy.",
            default=False,
            validate=values.boolean,
        ),
        Field(
            "assignment_id",
            "string",
            "Id of the PermissionSetAssignment record (also the resource id).",
            output_only=True,
        ),
        Field("assignee_id", "string", "Id of the user.", output_only=True),
        Field("permission_set_id", "string", "Id of the permission set.", output_only=True),
        Field(
            "pre_existing", "boolean", "The assignment existed before; delete leaves it.", output_only=True
        ),
    ),
)


class PermissionSetAssignmentProvider(OrglinkProvider):
    schema = SCHEMA

    def describe(self, props: dict[str, Any]) -> str:
        return (
            f"PermissionSetAssignment of '{props.get('permission_set') or '?'}' "
            f"to '{props.get('username') or '?'}'"
        )

    # -- lookups ---------------------------------------------------------------------------------

    @staticmethod
    def _user_id(client: salesforce.OrgClient, username: str) -> str:
        user = active_user(
            client,
            username,
            missing=f"there is no user '{username}' in org '{client.alias}'; use the username shown in "
            "Setup > Users",
            inactive=f"user '{username}' in org '{client.alias}' is inactive; activate it in Setup > Users "
            "or choose another user",
        )
        return str(user["Id"])

    @staticmethod
    def _find(client: salesforce.OrgClient, user_id: str, permission_set_id: str) -> str | None:
        return find_row(client, SOBJECT, {"AssigneeId": user_id, "PermissionSetId": permission_set_id})

    # -- create / read / update / delete ---------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            outs = self._assign(inputs)
        return CreateResult(outs["assignment_id"], outs)

    def _assign(self, inputs: dict[str, Any]) -> dict[str, Any]:
        client = salesforce.org(inputs["org"])
        user_id = self._user_id(client, inputs["username"])
        permission_set_id = find_permission_set(client, inputs["permission_set"], f" in org '{client.alias}'")
        # A permission set this operation created has no assignments to look for.
        new_set = client.created_here("PermissionSet", inputs["permission_set"])
        found = None if new_set else self._find(client, user_id, permission_set_id)
        if found is not None:
            adopted = not inputs.get("owned_permission_set")
            self.log(
                f"{client.alias}: {self.describe(inputs)} already exists; "
                + ("adopting it (it stays on destroy)" if adopted else "taking it over (the permission "
                   "set is this stack's own)")
            )  # fmt: skip
            return self._outputs(inputs, found, user_id, permission_set_id, pre_existing=adopted)
        self.log(f"{client.alias}: assigning {self.describe(inputs)}")
        # Just looked and found none: a duplicate now is our own insert, retried after its answer was
        # lost.
        assignment_id, _ = insert_row(
            client, SOBJECT, {"AssigneeId": user_id, "PermissionSetId": permission_set_id}
        )
        return self._outputs(inputs, assignment_id, user_id, permission_set_id, pre_existing=False)

    @staticmethod
    def _outputs(
        inputs: dict[str, Any], assignment_id: str, user_id: str, permission_set_id: str, pre_existing: bool
    ) -> dict[str, Any]:
        outs = {k: inputs[k] for k in ("org", "permission_set", "username") if inputs.get(k)}
        outs.update(
            owned_permission_set=bool(inputs.get("owned_permission_set")),
            assignment_id=assignment_id,
            assignee_id=user_id,
            permission_set_id=permission_set_id,
            pre_existing=pre_existing,
        )
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            rows = salesforce.org(state["org"]).query(
                f"SELECT Id, AssigneeId, PermissionSetId FROM {SOBJECT} WHERE Id = {quoted(id_)}"
            )
        if not rows:
            return ReadResult("", {})  # unassigned in Setup: the next `up` assigns it again
        row = rows[0]
        outs = self._outputs(
            state, id_, str(row["AssigneeId"]), str(row["PermissionSetId"]), bool(state.get("pre_existing"))
        )
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only `owned_permission_set` changes in place: it decides what a later delete does.
        old, new = self.plain(olds), self.plain(news)
        pre_existing = bool(old.get("pre_existing")) and not new.get("owned_permission_set")
        return UpdateResult(
            self._outputs(new, id_ or old["assignment_id"], old["assignee_id"], old["permission_set_id"],
                          pre_existing)
        )  # fmt: skip

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        with self.reporting(state):
            if state.get("pre_existing"):
                self.log(f"{state['org']}: leaving {self.describe(state)} (it existed before)")
                return
            client = salesforce.org(state["org"])
            self.log(f"{client.alias}: removing {self.describe(state)}")
            client.delete_record(SOBJECT, state["assignment_id"])


class PermissionSetAssignment(
    OrglinkResource[PermissionSetAssignmentArgs], module="salesforce", name="PermissionSetAssignment"
):
    """A user's permission set assignment.

    Type token: ``pulumi-python:dynamic/salesforce:PermissionSetAssignment``.
    """

    org: pulumi.Output[str]
    permission_set: pulumi.Output[str]
    username: pulumi.Output[str]
    assignment_id: pulumi.Output[str]
    pre_existing: pulumi.Output[bool]

    provider_class = PermissionSetAssignmentProvider
