"""Resources that own some fields of a component another resource created (an app's policies, its
run-as user): the shared create/read/update/delete.

Such a resource never replaces the component. It changes only its own fields by read, merge, write
under the component's lock (``salesforce.modify_component``), so resources editing the same app at
the same time never lose each other's changes. It remembers the values its fields had before it
took them over (output ``previous_values``) and puts those back on delete: for an app orglink
created these are Salesforce's defaults; for an adopted app, what the app had before.

The External Client App parts reuse this with their own ``component_type`` and ``component_name``.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import ArgsT, OrglinkProvider, OrglinkResource
from providers.framework.schema import Field


def app_field(kind: str = "connected app") -> Field:
    return Field(
        "app",
        "string",
        f"API name of the {kind} (pass the app resource's `api_name` output so this waits for it).",
        required=True,
        validate=values.api_name,
    )


def app_id_field() -> Field:
    return Field(
        "app_id",
        "string",
        "The app resource's `id` output. Optional, but pass it: when the app is replaced, "
        "this resource is then applied to the new app.",
        validate=values.text,
    )


def previous_values_field() -> Field:
    return Field(
        "previous_values",
        "object",
        "The values this resource's fields had before it took them over; put back on delete.",
        output_only=True,
    )


class AppPartProvider(OrglinkProvider):
    """Owns ``schema.component_fields`` of the component named by the ``app`` input."""

    def component_type(self) -> str:
        return self.schema.component_type or ""

    def component_name(self, state: dict[str, Any]) -> str:
        return str(state["app"])

    def describe(self, props: dict[str, Any]) -> str:
        return f"{self.schema.kind} of '{props.get('app', '?')}'"

    def validate_live(self, client: salesforce.OrgClient, inputs: dict[str, Any]) -> None:
        """Checks that need the org (a user exists, ...); raise SalesforceError naming the field."""

    # -- create --------------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            client = salesforce.org(inputs["org"])
            self.validate_live(client, inputs)
            previous, written = self._apply(inputs, "setting")
        outs = self._outputs(inputs, written, previous)
        return CreateResult(f"{inputs['org']}/{self.component_name(inputs)}/{self.schema.kind}", outs)

    def _apply(self, inputs: dict[str, Any], doing: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write our fields into the live component; return the values they had before and the
        component as written (its outputs need no second read)."""
        before: dict[str, Any] = {}

        def merge(component: dict[str, Any]) -> dict[str, Any]:
            before.update(self.schema.read(component))
            return self.schema.write(component, inputs)

        self.log(f"{inputs['org']}: {doing} {self.describe(inputs)}")
        written = salesforce.modify_component(
            inputs["org"], self.component_type(), self.component_name(inputs), merge, self.describe(inputs)
        )
        return before, written

    def _restore(self, state: dict[str, Any]) -> bool:
        """Put the remembered values back; False when the component no longer exists."""
        previous = state.get("previous_values") or {}
        # A field not remembered had no element: its absence is written, not the schema default.
        restore = {f.name: previous.get(f.name) for f in self.schema.component_fields}

        def put_back(component: dict[str, Any]) -> dict[str, Any]:
            return self.schema.put_back(component, restore)

        try:
            salesforce.modify_component(
                state["org"],
                self.component_type(),
                self.component_name(state),
                put_back,
                self.describe(state),
            )
        except salesforce.SalesforceError as err:
            if salesforce.is_not_found(err):
                return False
            raise
        return True

    # -- read ----------------------------------------------------------------------------------

    def _read_live(self, state: dict[str, Any]) -> dict[str, Any] | None:
        client = salesforce.org(state["org"])
        return client.read_component(self.component_type(), self.component_name(state))

    def _outputs(
        self, inputs: dict[str, Any], component: dict[str, Any] | None, previous: dict[str, Any]
    ) -> dict[str, Any]:
        outs: dict[str, Any] = {"org": inputs["org"], "app": inputs["app"], "previous_values": previous}
        if inputs.get("app_id"):
            outs["app_id"] = inputs["app_id"]
        if component is not None:
            outs.update(self.schema.read(component))
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            component = self._read_live(state)
        if component is None:
            return ReadResult("", {})  # the app is gone, and with it these settings
        return ReadResult(id_, self._outputs(state, component, state.get("previous_values") or {}))

    # -- update --------------------------------------------------------------------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = self.plain(olds), self.plain(news)
        previous = old.get("previous_values") or {}
        with self.reporting(new):
            client = salesforce.org(new["org"])
            self.validate_live(client, new)
            moved = old.get("app") != new.get("app") or old.get("app_id") != new.get("app_id")
            if moved and old.get("app") != new.get("app") and self._exists(old):
                # Moved to another app that also exists: leave the old app as it was.
                self._restore(old)
            before, written = self._apply(new, "setting" if moved else "updating")
            if moved:
                previous = before
        return UpdateResult(self._outputs(new, written, previous))

    def _exists(self, state: dict[str, Any]) -> bool:
        return self._read_live(state) is not None

    # -- delete --------------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        with self.reporting(state):
            self.log(f"{state['org']}: restoring {self.describe(state)}")
            if not self._restore(state):
                self.log(f"{state['org']}: '{state['app']}' no longer exists; nothing to restore")


class AppPartResource(OrglinkResource[ArgsT]):
    """A resource owning part of an app: the outputs every part has."""

    org: pulumi.Output[str]
    app: pulumi.Output[str]
