"""What the parts of an Org B app need to know about its model (connected app or External Client App).

Both models have an app component that names the app, a record (``ConnectedApplication`` /
``ExternalClientApplication``) whose Id profile access points at, and a provenance tag that tells an
app this resource made (and an interrupted ``pulumi up`` left behind) from someone else's. The
family modules each describe their model with one :class:`AppModel`; the model-neutral parts
(profile assignment, run-as user) take it instead of importing the other family.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi

from providers import salesforce
from providers.framework.provider import ArgsT, OrglinkResource
from providers.framework.schema import Changes

# Inputs that say who creates an app, never a reason to change it (state written before they
# existed has none, and a renamed stack must not update anything).
PROVENANCE_FIELDS = ("owner",)
PROVENANCE_TAG_LENGTH = 24


@dataclass(frozen=True)
class AppModel:
    """One app model: its names for messages, its Metadata API type and how its record is found."""

    kind: str  # the app resource's kind, e.g. ConnectedApp
    noun: str  # how messages name such an app, e.g. "connected app"
    metadata_type: str  # the app's (header's) Metadata API type: every part of the app holds its lock
    record_prefix: (
        str  # key prefix of the app's record (ConnectedApplication 0H4, ExternalClientApplication 0xI)
    )
    provenance_salt: str  # keeps the two models' provenance tags apart

    def find_record_id(self, client: salesforce.OrgClient, api_name: str) -> str | None:
        """The app's record Id, from listMetadata (its FileProperties id)."""
        for props in client.list_metadata(self.metadata_type):
            if str(props.get("fullName", "")).lower() == api_name.lower() and props.get("id"):
                return str(props["id"])
        return None

    def record_id(self, client: salesforce.OrgClient, app: str, app_id: Any) -> str:
        """The record Id of ``app``: the app resource's ``app_id`` when given, else looked up."""
        if isinstance(app_id, str) and app_id.startswith(self.record_prefix):
            return app_id
        found = self.find_record_id(client, app)
        if not found:
            raise salesforce.SalesforceError(
                client.alias, None, "app", "NOT_FOUND",
                f"there is no {self.noun} '{app}' (pass the {self.kind} resource's api_name)",
            )  # fmt: skip
        return found

    def provenance_tag(self, owner: str, api_name: str) -> str:
        """A hash of who creates which app: stable across runs, never produced by another stack,
        another resource or a person in Setup. Not a secret."""
        digest = hashlib.sha256(f"{self.provenance_salt}\n{owner}\n{api_name.lower()}".encode()).hexdigest()
        return "OL" + digest[: PROVENANCE_TAG_LENGTH - 2]

    def default_owner(self, resource_name: str) -> str:
        """The `owner` an app resource named ``resource_name`` gives itself (what its URN says)."""
        return f"{pulumi.get_project()}/{pulumi.get_stack()}/{self.kind}/{resource_name}"


def without_provenance(found: Changes) -> Changes:
    return Changes(tuple(n for n in found.changed if n not in PROVENANCE_FIELDS), found.replaces)


class AppResource(OrglinkResource[ArgsT]):
    """An app resource of either model: the outputs both have, and the `owner` its URN gives it."""

    org: pulumi.Output[str]
    api_name: pulumi.Output[str]
    label: pulumi.Output[str]
    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    app_id: pulumi.Output[str]
    certificate: pulumi.Output[str]
    scopes: pulumi.Output[list[str]]
    callback_urls: pulumi.Output[list[str]]

    model: ClassVar[AppModel]

    def prepare(self, resource_name: str, props: dict[str, Any]) -> None:
        if props.get("owner") is None:
            # What a Pulumi URN says, known here and not in the provider (which gets no URN).
            props["owner"] = self.model.default_owner(resource_name)
