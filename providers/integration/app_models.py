"""The two Org B app models an integration can use: the four resource classes of each, and the
`app` and `policy` keys of the stack config each takes (its inputs, less what the integration wires)."""

from __future__ import annotations

from dataclasses import dataclass

from providers.framework.schema import Schema
from providers.org_b.app_model import PROVENANCE_FIELDS
from providers.org_b.connected_app.app import SCHEMA as CONNECTED_APP_SCHEMA
from providers.org_b.connected_app.app import ConnectedApp
from providers.org_b.connected_app.policy import SCHEMA as POLICY_SCHEMA
from providers.org_b.connected_app.policy import ConnectedAppPolicy
from providers.org_b.connected_app.profile_assignment import ConnectedAppProfileAssignment
from providers.org_b.connected_app.run_as_user import ClientCredentialsRunAsUser
from providers.org_b.external_client_app.app import SCHEMA as ECA_SCHEMA
from providers.org_b.external_client_app.app import ExternalClientApp
from providers.org_b.external_client_app.policy import SCHEMA as ECA_POLICY_SCHEMA
from providers.org_b.external_client_app.policy import ExternalClientAppPolicy
from providers.org_b.external_client_app.profile_assignment import ExternalClientAppProfileAssignment
from providers.org_b.external_client_app.run_as_user import ExternalClientAppRunAsUser

# Keys of `app` and `policy` the integration sets itself (wired or derived from the names).
# (`owner` and other provenance inputs are the resource's own, made from the stack and resource name.)
WIRED_APP_KEYS = frozenset({"org", "api_name", "certificate", *PROVENANCE_FIELDS})
WIRED_POLICY_KEYS = frozenset({"org", "app", "app_id"})


# ---------------------------------------------------------------------------------------------
# App types: the four Org B resource classes of each, and the `app`/`policy` keys they take
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppModel:
    """One app type. Everything else about Org B's side (wiring, ordering) is shared."""

    app: type[ConnectedApp] | type[ExternalClientApp]
    policy: type[ConnectedAppPolicy] | type[ExternalClientAppPolicy]
    run_as_user: type[ClientCredentialsRunAsUser] | type[ExternalClientAppRunAsUser]
    access: type[ConnectedAppProfileAssignment] | type[ExternalClientAppProfileAssignment]
    app_keys: frozenset[str]  # what `app:` may hold (the app's inputs, less what is wired)
    policy_keys: frozenset[str]
    # Resource names `<base>-<prefix><part>`. The connected app keeps the unprefixed names of
    # existing stacks; the ECA's differ, so a switch reads as "create eca-*, delete the rest".
    name_prefix: str
    # The run-as user writes a component holding the app's certificate, which some orgs never
    # read back: it is handed the certificate so that its write keeps it.
    run_as_needs_certificate: bool = False

    def keys(self, part: str) -> frozenset[str]:
        return self.app_keys if part == "app" else self.policy_keys


def _inputs(schema: Schema, wired: frozenset[str]) -> frozenset[str]:
    return frozenset(spec.name for spec in schema.inputs) - wired


APP_MODELS: dict[str, AppModel] = {
    "connected_app": AppModel(
        ConnectedApp, ConnectedAppPolicy, ClientCredentialsRunAsUser, ConnectedAppProfileAssignment,
        _inputs(CONNECTED_APP_SCHEMA, WIRED_APP_KEYS), _inputs(POLICY_SCHEMA, WIRED_POLICY_KEYS), "",
    ),
    "external_client_app": AppModel(
        ExternalClientApp, ExternalClientAppPolicy, ExternalClientAppRunAsUser,
        ExternalClientAppProfileAssignment,
        _inputs(ECA_SCHEMA, WIRED_APP_KEYS), _inputs(ECA_POLICY_SCHEMA, WIRED_POLICY_KEYS), "eca-",
        run_as_needs_certificate=True,
    ),
}  # fmt: skip
APP_TYPES = tuple(APP_MODELS)
PLANNED_APP_TYPES: tuple[str, ...] = ()  # announced in errors before they are built; none today
