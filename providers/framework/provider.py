"""What every orglink dynamic provider shares: configure(), check() and diff() driven by its Schema.

The provider objects hold no state at all: the engine pickles them (with dill, by reference to
this package) into every resource's state, so connections live in ``providers.salesforce``'s
registry, filled here by configure().
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult, ResourceProvider

from providers import salesforce
from providers.framework.schema import Changes, Schema, failures_for_alias, unwrap_secret


class OrglinkProvider(ResourceProvider):
    """Base class: subclasses set ``schema`` and implement create/read/update/delete."""

    schema: ClassVar[Schema]

    def configure(self, req: ConfigureRequest) -> None:
        # Secrets arrive decrypted; they stay in the module registry, never on self.
        salesforce.configure_orgs(salesforce.orgs_value(req.config))

    # check and diff never call Salesforce: a preview with no changes makes no API request.

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = self.schema.check(whole_numbers(news))
        failures += failures_for_alias(inputs.get("org"), salesforce.configured_aliases())
        if not failures:
            failures += self._connection_failures(inputs.get("org"))
        if not failures:
            failures += self.check_more(_olds, inputs)
        return CheckResult(inputs, failures)

    @staticmethod
    def _connection_failures(alias: Any) -> list[CheckFailure]:
        """A connection setting that cannot work (unknown auth mode, http:// URL, missing field) is
        known without calling the org: report it at preview, not halfway through an up."""
        if not isinstance(alias, str) or salesforce.configured_aliases() is None:
            return []
        try:
            conn = salesforce.connection(alias)
        except salesforce.SalesforceError as err:
            return [CheckFailure("org", f"{err.field or 'org'}: {err.message}")]
        salesforce.warn_legacy_auth(conn)
        return []

    def check_more(self, _olds: dict[str, Any], _inputs: dict[str, Any]) -> list[CheckFailure]:
        """Rules that span fields; inputs are already validated and normalised."""
        return []

    def changes(self, olds: dict[str, Any], news: dict[str, Any]) -> Changes:
        return self.schema.changes(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        return DiffResult(changes=found.any, replaces=list(found.replaces), delete_before_replace=False)

    # helpers for subclasses

    def describe(self, props: dict[str, Any]) -> str:
        """How errors and log lines name this resource, e.g. ConnectedApp 'Carrier_API_App'."""
        return f"{self.schema.kind} '{props.get('api_name') or props.get('app') or '?'}'"

    def fail(self, props: dict[str, Any], err: salesforce.SalesforceError) -> salesforce.SalesforceError:
        """Attribute a Salesforce error to this resource and, where Salesforce named one, to an input."""
        field = self.schema.input_for_salesforce_field(err.field) or (
            err.field if err.field in {f.name for f in self.schema.fields} else None
        )
        return salesforce.SalesforceError(
            err.org, self.describe(props), field or err.field, err.status_code, err.message
        )

    @contextmanager
    def reporting(self, props: dict[str, Any]) -> Iterator[None]:
        """Raise any Salesforce error from the block as this resource's (see fail)."""
        try:
            yield
        except salesforce.SalesforceError as err:
            raise self.fail(props, err) from None

    @staticmethod
    def plain(props: dict[str, Any]) -> dict[str, Any]:
        """Inputs with any secret wrappers removed (and whole numbers as int, see whole_numbers)."""
        return {key: whole_numbers(unwrap_secret(v)) for key, v in props.items() if not key.startswith("__")}

    @staticmethod
    def log(message: str, warning: bool = False) -> None:
        salesforce.pulumi_log(message, warning)


def whole_numbers(value: Any) -> Any:
    """1440.0 -> 1440, also inside lists and dicts.

    The engine carries every number as a float, so an `int` the program passed (a session timeout,
    a key size) reaches the provider as 1440.0, which xsd:int and the validators reject.
    No Salesforce input orglink manages is fractional.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    return value


ArgsT = TypeVar("ArgsT", bound=Mapping[str, Any])


class OrglinkResource(pulumi.dynamic.Resource, Generic[ArgsT]):
    """Base class of orglink's resources: subclasses set ``provider_class`` and name their type token.

    ``class Foo(OrglinkResource[FooArgs], module="salesforce", name="Foo")``: pulumi.dynamic.Resource
    forms the token (``pulumi-python:dynamic/salesforce:Foo``) from those class keywords, so each
    subclass keeps its own; this class itself is never instantiated.
    """

    provider_class: ClassVar[type[OrglinkProvider]]

    def __init__(self, resource_name: str, args: ArgsT, opts: pulumi.ResourceOptions | None = None) -> None:
        schema = self.provider_class.schema
        # Every field a property, so each output is an attribute of the resource.
        props: dict[str, Any] = {f.name: None for f in schema.fields}
        props.update(args)
        self.prepare(resource_name, props)
        super().__init__(
            self.provider_class(), resource_name, props, resource_options(opts, schema.secret_outputs)
        )

    def prepare(self, resource_name: str, props: dict[str, Any]) -> None:
        """Fill in, in place, what only the program knows (no Salesforce call happens here)."""


def resource_options(
    opts: pulumi.ResourceOptions | None, secret_outputs: list[str]
) -> pulumi.ResourceOptions | None:
    """The caller's options plus our secret outputs (a generated consumer secret must be a secret)."""
    if not secret_outputs:
        return opts
    ours = pulumi.ResourceOptions(additional_secret_outputs=secret_outputs)
    return pulumi.ResourceOptions.merge(opts, ours)
