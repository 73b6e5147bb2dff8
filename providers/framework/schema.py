"""Each resource declares its fields once, in a :class:`Schema`; everything else follows from it.

A :class:`Field` says what a user writes (name, type, default, validation), what changing it means
(in place or replace), whether it is secret, where it lives in the Salesforce component (a dotted
path such as ``oauthPolicy.ipRelaxation``) and how its value is written, read back and compared.
From that table come ``check()`` (validation and normalisation, no Salesforce call), ``diff()``
(field by field, tolerant of preview's unknown values), the mapping between inputs and the
Salesforce component, and the reference documentation (``python -m providers.docs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pulumi.dynamic import CheckFailure, DiffResult
from pulumi.output import Unknown
from pulumi.runtime import rpc

from providers.framework import values
from providers.salesforce import CONFIG_KEY

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Field:
    """One input or output of a resource."""

    name: str
    type: str  # for docs and messages: "string", "boolean", "integer", "list[string]", "object"
    description: str
    path: str | None = None  # where the value lives in the Salesforce component; None: provider-side only
    default: Any = None  # used when the input is left out; None means "absent"
    required: bool = False
    replaces: bool = False  # a change needs a new resource (Salesforce cannot change it in place)
    secret: bool = False
    computed: bool = False  # when left out, the provider chooses the value (generated or kept)
    output_only: bool = False  # set by the provider, never an input
    write_only: bool = False  # Salesforce never returns it: outputs keep what was written
    validate: Convert = _identity  # raw input -> canonical value; raises ValueError(message)
    to_salesforce: Convert = _identity  # canonical value -> component value
    from_salesforce: Convert = _identity  # component value -> canonical value
    compare_key: Convert = _identity  # canonical value -> what diff compares
    absent_value: Any = None  # the canonical value when the component has no such element
    docs_values: str = ""  # extra line for the docs: accepted values

    @property
    def is_input(self) -> bool:
        return not self.output_only


def is_unknown(value: Any) -> bool:
    """True for preview's unknown values, also inside lists and dicts."""
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return True
    if isinstance(value, (list, tuple)):
        return any(is_unknown(item) for item in value)
    if isinstance(value, Mapping) and not rpc.is_rpc_secret(value):
        return any(is_unknown(item) for item in value.values())
    return False


def unwrap_secret(value: Any) -> Any:
    """The engine may hand secrets over wrapped; providers work on the plain value."""
    while rpc.is_rpc_secret(value):
        value = value["value"]
    return value


@dataclass(frozen=True)
class Changes:
    """What diff found: the changed input names and those that force a replacement."""

    changed: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.changed)


@dataclass(frozen=True)
class Schema:
    """The field table of one resource kind."""

    kind: str  # "ConnectedApp"
    description: str
    fields: tuple[Field, ...]
    component_type: str | None = None  # the Metadata API type the paths refer to
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"{self.kind}: fields declared twice: {sorted(duplicates)}")

    # -- lookup -------------------------------------------------------------------------------

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def inputs(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_input)

    @property
    def component_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.path)

    @property
    def secret_outputs(self) -> list[str]:
        return [f.name for f in self.fields if f.secret]

    def input_for_salesforce_field(self, salesforce_field: str | None) -> str | None:
        """The input named by a Salesforce error's field (`consumerKey` or `oauthConfig.consumerKey`)."""
        if not salesforce_field:
            return None
        wanted = salesforce_field.lower()
        for candidate in self.component_fields:
            path = (candidate.path or "").lower()
            if path == wanted or path.rsplit(".", 1)[-1] == wanted.rsplit(".", 1)[-1]:
                return candidate.name
        return None

    # -- check --------------------------------------------------------------------------------

    def check(self, news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
        """Validate and normalise inputs; defaults fill what was left out. Unknown values pass through."""
        inputs: dict[str, Any] = {}
        failures: list[CheckFailure] = []
        known_names = {f.name for f in self.inputs}
        for key in news:
            if key.startswith("__"):
                continue
            if key not in known_names:
                reason = (
                    f"'{key}' is not an input of {self.kind}; valid inputs: {', '.join(sorted(known_names))}"
                )
                if key in {f.name for f in self.fields}:
                    reason = (
                        f"'{key}' is an output of {self.kind}, set by the provider; remove it from the inputs"
                    )
                failures.append(CheckFailure(key, reason))
        for spec in self.inputs:
            raw = unwrap_secret(news.get(spec.name))
            if raw is None or raw == "" or raw == []:
                if spec.required:
                    failures.append(CheckFailure(spec.name, f"{spec.name} is required: {spec.description}"))
                elif spec.default is not None:
                    inputs[spec.name] = spec.default
                continue
            if is_unknown(raw):
                inputs[spec.name] = raw
                continue
            try:
                inputs[spec.name] = spec.validate(raw)
            except ValueError as exc:
                failures.append(CheckFailure(spec.name, f"{spec.name}: {exc}"))
        return inputs, failures

    # -- diff ---------------------------------------------------------------------------------

    def changes(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Changes:
        """Compare old outputs with new (checked) inputs, field by field.

        A left-out computed field keeps its value; a left-out field compares as its default;
        differences that only normalisation makes (scope aliases, certificate formatting) are none.
        """
        changed: list[str] = []
        replaces: list[str] = []
        for spec in self.inputs:
            new = unwrap_secret(news.get(spec.name))
            old = unwrap_secret(olds.get(spec.name))
            if new is None and spec.computed:
                continue
            if new is None:
                new = spec.default
            if is_unknown(new) or self._differs(spec, old, new):
                changed.append(spec.name)
                if spec.replaces:
                    replaces.append(spec.name)
        return Changes(tuple(changed), tuple(replaces))

    def diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
        found = self.changes(olds, news)
        return DiffResult(changes=found.any, replaces=list(found.replaces), delete_before_replace=False)

    @staticmethod
    def _differs(spec: Field, old: Any, new: Any) -> bool:
        if old is None and new is None:
            return False
        if old is None or new is None:
            # An absent value equals the element's meaning when absent (false for flags, etc.).
            old = spec.absent_value if old is None else old
            new = spec.absent_value if new is None else new
            if old is None or new is None:
                return old is not new
        try:
            return bool(spec.compare_key(old) != spec.compare_key(new))
        except (ValueError, TypeError):
            return bool(old != new)

    # -- the Salesforce component -------------------------------------------------------------

    def write(self, component: dict[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Set this resource's own fields in a component (which keeps everything else)."""
        for spec in self.component_fields:
            value = inputs.get(spec.name, None if spec.computed or spec.write_only else spec.default)
            if value is None and (spec.computed or spec.write_only):
                continue  # chosen by the provider or Salesforce: keep what the component has
            wire = None if value is None else spec.to_salesforce(as_declared(spec, value))
            set_path(component, spec.path or "", wire)
        return component

    def restore_defaults(
        self, component: dict[str, Any], names: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Put Salesforce's defaults back into this resource's fields (used on delete)."""
        chosen = set(names) if names is not None else {f.name for f in self.component_fields}
        for spec in self.component_fields:
            if spec.name in chosen and not spec.write_only:
                set_path(
                    component,
                    spec.path or "",
                    None if spec.default is None else spec.to_salesforce(spec.default),
                )
        return component

    def put_back(self, component: dict[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
        """Write remembered values (``read``'s form) into the fields ``previous`` names; None writes
        the element's absence (it had none)."""
        for spec in self.component_fields:
            if spec.name in previous:
                value = previous[spec.name]
                wire = None if value is None else spec.to_salesforce(as_declared(spec, value))
                set_path(component, spec.path or "", wire)
        return component

    def read(self, component: Mapping[str, Any]) -> dict[str, Any]:
        """This resource's fields from a component, in canonical form."""
        out: dict[str, Any] = {}
        for spec in self.component_fields:
            if spec.write_only:
                continue
            wire = get_path(component, spec.path or "")
            value = spec.absent_value if wire is None or wire == [] else spec.from_salesforce(wire)
            if value is not None:
                out[spec.name] = value
        return out


def as_declared(spec: Field, value: Any) -> Any:
    """Numbers cross the engine as doubles (1440 arrives as 1440.0); xsd:int wants 1440."""
    if spec.type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------
# Dotted paths into nested component dicts
# ---------------------------------------------------------------------------------------------


def get_path(component: Mapping[str, Any], path: str) -> Any:
    node: Any = component
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def set_path(component: dict[str, Any], path: str, value: Any) -> None:
    """Set a nested value; None (or an empty list) removes the element, and a parent left empty."""
    parts = path.split(".")
    if value is None or value == []:
        _remove_path(component, parts)
        return
    node = component
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _remove_path(node: dict[str, Any], parts: list[str]) -> None:
    if len(parts) == 1:
        node.pop(parts[0], None)
        return
    child = node.get(parts[0])
    if isinstance(child, dict):
        _remove_path(child, parts[1:])
        if not child:
            # An empty <sessionPolicy/> is not the same as none: drop it.
            node.pop(parts[0])


# ---------------------------------------------------------------------------------------------
# Field helpers used by the resource modules
# ---------------------------------------------------------------------------------------------


def org_field() -> Field:
    return Field(
        "org",
        "string",
        f"Alias of the org in the stack config `{CONFIG_KEY}` (e.g. orgB). Moving to another org replaces.",
        required=True,
        replaces=True,
        validate=values.non_empty_text,
    )


def alias_field(name: str, which: str) -> Field:
    """An input naming one of the two orgs of an integration (the resources that ask both orgs)."""
    return Field(
        name,
        "string",
        f"Alias of {which} in `{CONFIG_KEY}`.",
        required=True,
        validate=values.non_empty_text,
    )


def label_field(path: str | None = "label", shown_as: str = "Label shown in Setup") -> Field:
    """The optional label of a named component; check fills a missing one (values.default_label)."""
    return Field(
        "label",
        "string",
        f"{shown_as} (default: the API name with spaces).",
        path=path,
        validate=values.non_empty_text,
    )


def flag(name: str, path: str, description: str, default: bool = False) -> Field:
    """A boolean element; absent in the component means false."""
    return Field(
        name,
        "boolean",
        description,
        path=path,
        default=default,
        validate=values.boolean,
        from_salesforce=values.boolean,
        absent_value=False,
    )


def inverted_flag(name: str, path: str, description: str, default: bool) -> Field:
    """A boolean whose Salesforce element means the opposite (require_secret vs isConsumerSecretOptional)."""
    return replace(
        flag(name, path, description, default),
        to_salesforce=lambda value: not value,
        from_salesforce=lambda wire: not values.boolean(wire),
        absent_value=True,
    )


def failures_for_alias(org_value: Any, configured: list[str] | None) -> list[CheckFailure]:
    """An org alias missing from the stack config is known at preview: say so there."""
    if configured is None or not isinstance(org_value, str) or org_value in configured:
        return []
    names = ", ".join(configured) or "none"
    return [
        CheckFailure(
            "org",
            f"org: alias '{org_value}' is not in the stack config `{CONFIG_KEY}` (configured: {names}); "
            f"add it with `pulumi config set --path '{CONFIG_KEY}.{org_value}.auth' <mode>`",
        )
    ]


def failures_for_org_pair(inputs: Mapping[str, Any], configured: list[str] | None) -> list[CheckFailure]:
    """`failures_for_alias` for resources that talk to both orgs (inputs `org_a` and `org_b`)."""
    failures = []
    for name in ("org_a", "org_b"):
        for failure in failures_for_alias(inputs.get(name), configured):
            failures.append(CheckFailure(name, failure.reason.replace("org:", f"{name}:", 1)))
    return failures
