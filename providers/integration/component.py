"""OrgToOrgIntegration: one Salesforce org (Org A) calling another (Org B), as one Pulumi component.

Wiring (the reason this component exists):
- a Preflight asks both orgs, read-only, what only they know (profiles, run-as user, an existing
  certificate, the credentials) before any other resource writes to either;
- Org A's Certificate (the org makes the key pair) -> Org B's app `certificate` (digital signatures);
- Org B's app consumer key and secret -> Org A's PrincipalCredential (client id and secret);
- Org B's token URL -> Org A's ExternalCredential `token_url`; Org B's My Domain -> NamedCredential `url`;
- a Verification after everything else proves the integration works.

Org B's side is chosen by ``app_type``: ``connected_app`` or ``external_client_app``. Both are the
same four resources (app, policy, run-as user, profile assignments) wired the same way; only the
classes differ (:data:`APP_MODELS`). Switching an existing stack from one to the other creates the
new app's resources (other type tokens, so other URNs), moves Org A's principal to its credentials
in place, and only then deletes the old app: Pulumi deletes resources that left the program after
every create and update of the run has finished.

Naming (so two stacks on the same orgs never collide): every object's API name is
``<api_name>_<name_suffix>``, where ``api_name`` defaults to the integration's ``name`` made an API
name ("CarrierAPI App" -> ``CarrierAPI_App``) and ``name_suffix`` defaults to the stack name
(``local-assess`` -> ``local_assess``). The Org B app's label is ``<name> (<stack>)``. Set
``name_suffix: ""`` to use the bare names (e.g. in production, where one stack owns the orgs).
Objects: Org B ConnectedApp ``<base>``; Org A Certificate, ExternalCredential and NamedCredential
``<base>``, named principal ``OrgB``, permission set ``<base>_Access``, assigned to each of
``callout_users`` (by default the user orglink's connection to Org A runs as, who also makes the
verification callout): a permission set assigned to nobody lets nobody's Apex call out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from providers.integration.app_models import APP_MODELS, AppModel
from providers.integration.config import FLOWS, PRINCIPAL_NAME, IntegrationOptions, api_name_from
from providers.integration.preflight import Preflight
from providers.integration.verification import Verification, VerificationArgs
from providers.org_a.certificate import Certificate
from providers.org_a.external_credential import ExternalCredential
from providers.org_a.named_credential import NamedCredential
from providers.org_a.permission_set_assignment import PermissionSetAssignment
from providers.org_a.principal_access import PrincipalAccess
from providers.org_a.principal_credential import PrincipalCredential
from providers.org_b.connected_app.app import default_owner
from providers.org_b.external_client_app.app import default_owner as default_eca_owner

# ---------------------------------------------------------------------------------------------
# Org B's side: one builder per app type
# ---------------------------------------------------------------------------------------------


@dataclass
class OrgBApp:
    """What Org A's side needs from Org B's app, whatever kind of app it is."""

    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    app_id: pulumi.Output[str]
    resources: list[pulumi.Resource]


def _args(settings: Mapping[str, Any], **wired: Any) -> Any:
    """Resource inputs: the user's settings, then what the integration wires (which wins)."""
    return {**settings, **wired}


def build_org_b_app(
    model: AppModel,
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    """Org B's app, its policy, run-as user and access, of the classes of one app type; none of them
    starts before the resources in ``after`` (the integration's Preflight)."""
    child = pulumi.ResourceOptions(parent=parent, depends_on=list(after))
    name = f"{options.base_name}-{model.name_prefix}"
    wired: dict[str, Any] = {"org": options.org_b, "api_name": options.base_name}
    if certificate_pem is not None:
        wired["certificate"] = certificate_pem
    app = model.app(f"{name}app", _args({"label": options.label, **options.app}, **wired), child)
    part = {"org": options.org_b, "app": app.api_name, "app_id": app.app_id}
    # The app's policy, run-as user and access rows go with the app when it is deleted: restoring
    # them first would be requests for nothing (an adopted app that stays keeps the restores).
    with_app = app if app_is_deleted_on_destroy(options) else None
    of_app = pulumi.ResourceOptions(parent=parent, depends_on=list(after), deleted_with=with_app)
    policy = model.policy(f"{name}policy", _args(options.policy, **part), of_app)
    resources: list[pulumi.Resource] = [app, policy]
    if options.run_as_user:
        run_as = _args({}, **part, username=options.run_as_user)
        if model.run_as_needs_certificate and certificate_pem is not None:
            run_as["app_certificate"] = app.certificate
        resources.append(model.run_as_user(f"{name}run-as", run_as, of_app))
    # Access rows are records of their own (SetupEntityAccess), made while the policy is written:
    # users are pre-authorized by them once the policy says AdminApprovedPreAuthorized, and the
    # token gate waits for both.
    for profile in options.profiles:
        access = _args({}, **part, profile=profile)
        resources.append(model.access(f"{name}profile-{api_name_from(profile)}", access, of_app))
    for permission_set in options.permission_sets:
        access = _args({}, **part, permission_set=permission_set)
        resources.append(model.access(f"{name}permset-{permission_set}", access, of_app))
    return OrgBApp(app.consumer_key, app.consumer_secret, app.app_id, resources)


def app_is_deleted_on_destroy(options: IntegrationOptions) -> bool:
    """False only for an adopted connected app that destroy leaves in place."""
    return not options.app.get("adopt") or bool(options.app.get("delete_on_destroy"))


def build_connected_app(
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    return build_org_b_app(APP_MODELS["connected_app"], options, certificate_pem, parent, after)


def build_external_client_app(
    options: IntegrationOptions,
    certificate_pem: pulumi.Output[str] | None,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> OrgBApp:
    return build_org_b_app(APP_MODELS["external_client_app"], options, certificate_pem, parent, after)


OrgBBuilder = Callable[
    [IntegrationOptions, "pulumi.Output[str] | None", pulumi.Resource, Sequence[pulumi.Resource]], OrgBApp
]
ORG_B_BUILDERS: dict[str, OrgBBuilder] = {
    "connected_app": build_connected_app,
    "external_client_app": build_external_client_app,
}


# ---------------------------------------------------------------------------------------------
# The component
# ---------------------------------------------------------------------------------------------


class OrgToOrgIntegration(pulumi.ComponentResource):
    """Org A calls Org B: certificate, Org B app, Org A credentials and a verification."""

    consumer_key: pulumi.Output[str]
    consumer_secret: pulumi.Output[str]
    token_url: pulumi.Output[str]
    named_credential: pulumi.Output[str]
    certificate_fingerprint: pulumi.Output[str]
    certificate_expires: pulumi.Output[str]
    verification: pulumi.Output[dict[str, Any]]

    def __init__(
        self, options: IntegrationOptions, org_b_url: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("orglink:index:OrgToOrgIntegration", options.base_name, None, opts)
        name = options.base_name
        token_url = f"{org_b_url}/services/oauth2/token"
        # Asks both orgs what only they know before anything is written to either: every other
        # resource waits for it, so a mistake found there leaves no partial integration behind.
        preflight = Preflight(
            f"{name}-preflight", self._preflight_args(options), pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[preflight])

        certificate = Certificate(f"{name}-certificate", self._certificate_args(options), child)
        org_b = ORG_B_BUILDERS[options.app_type](
            options, certificate.certificate if options.use_certificate else None, self, [preflight]
        )
        external = ExternalCredential(
            f"{name}-external-credential",
            {"org": options.org_a, "api_name": name, "label": options.label,
             "variant": FLOWS[options.flow], "token_url": token_url, "principal_name": PRINCIPAL_NAME},
            child,
        )  # fmt: skip
        gate = self._token_gate(options, org_b, token_url, certificate, [preflight, *org_b.resources])
        principal = PrincipalCredential(
            f"{name}-principal-credential",
            {"org": options.org_a, "external_credential": external.api_name,
             "principal_name": external.principal_name, "variant": FLOWS[options.flow],
             "client_id": org_b.consumer_key, "client_secret": org_b.consumer_secret},
            # Org A takes the credentials only of an app that can issue tokens (policy, run-as user
            # and access applied, and Org B's token endpoint accepting them: a new app propagates
            # for minutes): when app_type switches, the old app serves until then. Deleting the
            # external credential deletes its principals' credentials.
            pulumi.ResourceOptions(
                parent=self, depends_on=[preflight, *org_b.resources, *gate], deleted_with=external
            ),
        )  # fmt: skip
        named = NamedCredential(
            f"{name}-named-credential",
            {"org": options.org_a, "api_name": name, "label": options.label, "url": org_b_url,
             "external_credential": external.api_name},
            child,
        )  # fmt: skip
        access = PrincipalAccess(
            f"{name}-principal-access",
            {"org": options.org_a, "permission_set": options.access_permission_set,
             "label": f"{options.label} access", "principal": external.principal},
            child,
        )  # fmt: skip
        callout_access = [
            PermissionSetAssignment(
                f"{name}-callout-user-{username}",
                {"org": options.org_a, "permission_set": access.permission_set, "username": username,
                 "owned_permission_set": access.created_permission_set},
                pulumi.ResourceOptions(parent=self, depends_on=[preflight, access]),
            )
            for username in options.callout_users or ()
        ]  # fmt: skip
        everything: list[pulumi.Resource] = [preflight, certificate, *org_b.resources, *gate, external,
                                             principal, named, access, *callout_access]  # fmt: skip
        self.verification = self._verification(
            options, org_b, token_url, named, certificate, principal, everything, gate
        )

        self.consumer_key = org_b.consumer_key
        self.consumer_secret = pulumi.Output.secret(org_b.consumer_secret)
        self.token_url = pulumi.Output.from_input(token_url)
        self.named_credential = named.api_name
        self.certificate_fingerprint = certificate.fingerprint_sha256
        self.certificate_expires = certificate.expires
        self.register_outputs(
            {"consumer_key": self.consumer_key, "token_url": self.token_url,
             "named_credential": self.named_credential, "verification": self.verification}
        )  # fmt: skip

    @staticmethod
    def _preflight_args(options: IntegrationOptions) -> Any:
        args = {
            "integration": options.base_name, "config_key": options.config_key,
            "org_a": options.org_a, "org_b": options.org_b,
            "profiles": list(options.profiles), "permission_sets": list(options.permission_sets),
            "run_as_user": options.run_as_user, "existing_certificate": options.certificate.get("existing"),
            "callout_users": list(options.callout_users or ()),
        }  # fmt: skip
        if options.app_type == "connected_app":
            # What the app's create would find out only after Org A's certificate exists.
            model = APP_MODELS["connected_app"]
            args.update(
                app_api_name=options.base_name, app_adopt=bool(options.app.get("adopt")),
                app_consumer_key=options.app.get("consumer_key"),
                app_owner=default_owner(f"{options.base_name}-{model.name_prefix}app"),
            )  # fmt: skip
        else:
            # A foreign ECA of the name would otherwise be found only after Org A's certificate exists.
            model = APP_MODELS["external_client_app"]
            args.update(
                eca_api_name=options.base_name,
                eca_owner=default_eca_owner(f"{options.base_name}-{model.name_prefix}app"),
                eca_may_enable_secret_access=bool(options.app.get("enable_secret_in_rest_api")),
            )
        return args

    @staticmethod
    def _certificate_args(options: IntegrationOptions) -> Any:
        args: dict[str, Any] = {"org": options.org_a}
        if options.certificate.get("existing"):
            args["existing"] = options.certificate["existing"]
        else:
            args.update(api_name=options.base_name, label=options.certificate.get("label") or options.label)
            if options.certificate.get("key_size"):
                args["key_size"] = options.certificate["key_size"]
        return args

    def _token_gate(
        self,
        options: IntegrationOptions,
        org_b: OrgBApp,
        token_url: str,
        certificate: Certificate,
        after: list[pulumi.Resource],
    ) -> list[Verification]:
        """The verification's first half, Org B issuing a token to the app, made before Org A
        takes the app's credentials (none with `verify: off`, which asks nothing)."""
        if options.verify == "off":
            return []
        return [Verification(
            f"{options.base_name}-token-gate",
            {**self._verification_args(options, org_b, token_url), "checks": "token",
             # The named credential is only named (the gate runs before Org A's side changes).
             "named_credential": options.base_name,
             "triggers": pulumi.Output.all(org_b.app_id, certificate.fingerprint_sha256,
                                           options.run_as_user or "")},
            pulumi.ResourceOptions(parent=self, depends_on=after),
        )]  # fmt: skip

    @staticmethod
    def _verification_args(options: IntegrationOptions, org_b: OrgBApp, token_url: str) -> VerificationArgs:
        return {"org_a": options.org_a, "org_b": options.org_b, "flow": "client_credentials",
                "token_url": token_url, "consumer_key": org_b.consumer_key,
                "consumer_secret": org_b.consumer_secret, "timeout_s": options.verify_timeout_s,
                "required": options.verify == "required"}  # fmt: skip

    def _verification(
        self,
        options: IntegrationOptions,
        org_b: OrgBApp,
        token_url: str,
        named: NamedCredential,
        certificate: Certificate,
        principal: PrincipalCredential,
        everything: list[pulumi.Resource],
        gate: list[Verification],
    ) -> pulumi.Output[dict[str, Any]]:
        if options.verify == "off" or not gate:
            return pulumi.Output.from_input(
                {"ok": False, "flow": options.flow, "detail": "verification is turned off (verify: off)"}
            )
        verification = Verification(
            f"{options.base_name}-verification",
            {**self._verification_args(options, org_b, token_url), "checks": "callout",
             "named_credential": named.api_name,
             # Prove it again when any of these change: another app, certificate or credentials.
             "triggers": pulumi.Output.all(org_b.app_id, certificate.fingerprint_sha256,
                                           principal.credentials_hash, options.run_as_user or "")},
            pulumi.ResourceOptions(parent=self, depends_on=everything),
        )  # fmt: skip
        # One result of both halves, as before the split: ok only if both passed.
        return pulumi.Output.all(gate[0].ok, gate[0].detail, verification.ok, verification.detail).apply(
            lambda parts: {"ok": bool(parts[0]) and bool(parts[2]), "flow": options.flow,
                           "detail": "; ".join(str(part) for part in (parts[1], parts[3]) if part)}
        )  # fmt: skip
