"""Helpers for resources that own a whole Metadata component (Org A's credentials).

Creating such a component is made safe to repeat: an interrupted `up` (or a create retried after a
lost answer) can leave the component behind without Pulumi knowing. When what the org has is exactly
what the resource wants, it is taken over instead of failing with DUPLICATE_VALUE; anything else
with the same name is somebody else's and is reported, never overwritten.

``WholeComponentProvider`` holds the check, create, read, update and delete such a resource does; a
module names its Metadata type and gives build() (inputs to component) and parse() (component to
inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, UpdateResult

from providers import salesforce
from providers.framework import values
from providers.framework.provider import OrglinkProvider

# How the Metadata API says a create's name is taken (the second for some types on real orgs).
DUPLICATE_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATE_DEVELOPER_NAME"})


def create_or_take_over(
    client: salesforce.OrgClient,
    mtype: str,
    wanted: dict[str, Any],
    comparable: Callable[[dict[str, Any]], object],  # what must be equal for a take-over
    log: Callable[[str], None],
    taken_hint: str = "choose another name (or delete it in Setup if it is a leftover)",
) -> dict[str, Any]:
    """Create ``wanted`` unless the org already has the same component; the caller holds its lock.
    Returns the component as the org now holds it.

    Create first and read only when the name is taken: a leftover is rare, and reading before
    every create cost one request per component. A create that succeeded stored exactly ``wanted``
    (a metadata create takes the whole component), so it is not read back either.
    """
    name = str(wanted["fullName"])
    log(f"{client.alias}: creating {mtype} {name}")
    result = client.create_metadata(mtype, [wanted])[0]
    if result.success:
        return wanted
    if not any(p.status_code in DUPLICATE_CODES for p in result.problems):
        raise result.error(client.alias, f"create {mtype}")
    # Taken: our own create retried after a lost answer, a leftover of an interrupted up, or
    # somebody else's component.
    existing = client.read_component(mtype, name)
    if existing is not None and comparable(existing) != comparable(wanted):
        raise salesforce.SalesforceError(
            client.alias, None, "api_name", "DUPLICATE_VALUE",
            f"a {mtype} '{name}' with other settings already exists in the org; {taken_hint}",
        )  # fmt: skip
    log(f"{client.alias}: {mtype} {name} already exists as wanted; taking it over")
    return existing if existing is not None else wanted


def delete_if_present(
    client: salesforce.OrgClient, mtype: str, name: str, log: Callable[[str], None]
) -> None:
    with salesforce.component_lock(client.alias, mtype, name):
        log(f"{client.alias}: deleting {mtype} {name}")
        if not client.delete_component(mtype, name):
            log(f"{client.alias}: {mtype} {name} was already gone")


class WholeComponentProvider(OrglinkProvider):
    """A resource that is one whole Metadata component, named by its ``api_name`` input.

    A subclass sets ``schema`` and ``metadata_type`` and gives ``build`` and ``parse`` (a module's
    functions, as ``build = staticmethod(build_component)``); create, read, update and delete are
    the same for every such resource, and a label left out defaults to the API name at check.
    """

    metadata_type: ClassVar[str]

    def build(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The whole component for these (checked) inputs."""
        raise NotImplementedError

    def parse(self, component: dict[str, Any]) -> dict[str, Any]:
        """Inputs as the org has them (the inverse of build)."""
        raise NotImplementedError

    def check_more(self, _olds: dict[str, Any], inputs: dict[str, Any]) -> list[CheckFailure]:
        values.default_label(inputs)
        return []

    def describe(self, props: dict[str, Any]) -> str:
        return f"{self.schema.kind} '{props.get('api_name') or '?'}'"

    def outputs_of(self, component: dict[str, Any], alias: str) -> dict[str, Any]:
        """The resource's outputs for the component as the org holds it."""
        return {**self.parse(component), "org": alias}

    def outputs(self, client: salesforce.OrgClient, state: dict[str, Any]) -> dict[str, Any] | None:
        """Live state of the component as outputs; None when it does not exist."""
        component = client.read_component(self.metadata_type, state["api_name"])
        if component is None:
            return None
        return self.outputs_of(component, client.alias)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.plain(props)
        with self.reporting(inputs):
            client = salesforce.org(inputs["org"])
            wanted = self.build(inputs)
            with salesforce.component_lock(client.alias, self.metadata_type, inputs["api_name"]):
                held = create_or_take_over(client, self.metadata_type, wanted, self.parse, self.log)
                client.remember_component(self.metadata_type, inputs["api_name"], held)
        return CreateResult(f"{inputs['org']}/{inputs['api_name']}", self.outputs_of(held, client.alias))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self.plain(props)
        with self.reporting(state):
            outs = self.outputs(salesforce.org(state["org"]), state)
        return ReadResult(id_, outs) if outs is not None else ReadResult("", {})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        new = self.plain(news)
        with self.reporting(new):
            client = salesforce.org(new["org"])
            with salesforce.component_lock(client.alias, self.metadata_type, new["api_name"]):
                self.log(f"{client.alias}: updating {self.metadata_type} {new['api_name']}")
                client.update_component(self.metadata_type, self.build(new))
                outs = self.outputs(client, new)
        return UpdateResult(outs or {})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        state = self.plain(props)
        with self.reporting(state):
            delete_if_present(salesforce.org(state["org"]), self.metadata_type, state["api_name"], self.log)
