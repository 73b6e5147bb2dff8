"""The provider classes' old module paths, kept importable for stacks created before the move.

Pulumi pickles each dynamic resource's provider into the stack's state by reference: the module path
and class name (``providers.connected_app.ConnectedAppProvider``). Every ``refresh``, ``up`` and
``destroy`` unpickles it again, so a state written when the providers were flat modules names paths
that no longer exist. :data:`OLD_PATHS` maps each of them to where the class lives now, and
:func:`install` makes ``import providers.<old>`` give a stand-in module that resolves those names.
Only provider classes are listed: nothing else of ours is pickled.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

_ORG_A = "providers.org_a"
_CA = "providers.org_b.connected_app"
_ECA = "providers.org_b.external_client_app"
_INTEGRATION = "providers.integration"

OLD_PATHS: dict[str, dict[str, str]] = {
    "providers.certificate": {"CertificateProvider": f"{_ORG_A}.certificate"},
    "providers.external_credential": {"ExternalCredentialProvider": f"{_ORG_A}.external_credential"},
    "providers.named_credential": {"NamedCredentialProvider": f"{_ORG_A}.named_credential"},
    "providers.principal_credential": {"PrincipalCredentialProvider": f"{_ORG_A}.principal_credential"},
    "providers.principal_access": {"PrincipalAccessProvider": f"{_ORG_A}.principal_access"},
    "providers.permission_set_assignment": {
        "PermissionSetAssignmentProvider": f"{_ORG_A}.permission_set_assignment"
    },
    "providers.connected_app": {"ConnectedAppProvider": f"{_CA}.app"},
    "providers.connected_app_policy": {"ConnectedAppPolicyProvider": f"{_CA}.policy"},
    "providers.profile_assignment": {"ConnectedAppProfileAssignmentProvider": f"{_CA}.profile_assignment"},
    "providers.run_as_user": {"ClientCredentialsRunAsUserProvider": f"{_CA}.run_as_user"},
    "providers.eca_app": {"ExternalClientAppProvider": f"{_ECA}.app"},
    "providers.eca_policy": {"ExternalClientAppPolicyProvider": f"{_ECA}.policy"},
    "providers.eca_profile_assignment": {
        "ExternalClientAppProfileAssignmentProvider": f"{_ECA}.profile_assignment"
    },
    "providers.eca_run_as_user": {"ExternalClientAppRunAsUserProvider": f"{_ECA}.run_as_user"},
    "providers.preflight": {"PreflightProvider": f"{_INTEGRATION}.preflight"},
    "providers.verification": {"VerificationProvider": f"{_INTEGRATION}.verification"},
}


def _stand_in(old: str) -> types.ModuleType:
    """A module whose only names are the provider classes that once lived at ``old``."""
    module = types.ModuleType(old, f"Old path of {', '.join(OLD_PATHS[old])} (see providers.legacy).")
    names = OLD_PATHS[old]

    def resolve(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    module.__getattr__ = resolve  # type: ignore[method-assign]
    return module


class _OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in OLD_PATHS:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _stand_in(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """The stand-in is complete when made."""


def install() -> None:
    if not any(isinstance(finder, _OldPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OldPathFinder())
