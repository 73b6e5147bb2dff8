"""The orglink stack: both orgs, one OrgToOrgIntegration per entry of `orglink:integrations`.

Stack outputs: the first integration's as `consumer_key`, `consumer_secret` (secret), `token_url`,
`named_credential`, `certificate_fingerprint`, `certificate_expires` and `verification`; every other
integration's under the same names prefixed with its API name in lower case (`assess_consumer_key`).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from providers import salesforce
from providers.framework.debug_log import filter_sdk_debug_log
from providers.integration.component import OrgToOrgIntegration
from providers.integration.config import (
    IntegrationConfigError,
    integration_org_b_url,
    parse_integrations,
    with_callout_users,
)

PROJECT_DIR = Path(__file__).resolve().parent


def main() -> None:
    filter_sdk_debug_log()  # a blocking RPC per SDK debug line; and never a secret in one
    config = pulumi.Config("orglink")
    try:
        integrations = parse_integrations(config.get_object("integrations"), pulumi.get_stack())
        orgs = salesforce.orgs_value(config)
        for warning in salesforce.legacy_auth_warnings(orgs):
            pulumi.log.warn(warning)
        integrations = [with_callout_users(option, orgs, PROJECT_DIR) for option in integrations]
        urls = [integration_org_b_url(option, orgs, PROJECT_DIR) for option in integrations]
    except IntegrationConfigError as err:
        # A config mistake is the user's to fix: say which key, without a Python traceback.
        raise pulumi.RunError(str(err)) from None

    for index, (options, org_b_url) in enumerate(zip(integrations, urls, strict=True)):
        integration = OrgToOrgIntegration(options, org_b_url)
        prefix = "" if index == 0 else options.output_prefix
        pulumi.export(f"{prefix}consumer_key", integration.consumer_key)
        pulumi.export(f"{prefix}consumer_secret", integration.consumer_secret)
        pulumi.export(f"{prefix}token_url", integration.token_url)
        pulumi.export(f"{prefix}named_credential", integration.named_credential)
        pulumi.export(f"{prefix}certificate_fingerprint", integration.certificate_fingerprint)
        pulumi.export(f"{prefix}certificate_expires", integration.certificate_expires)
        pulumi.export(f"{prefix}verification", integration.verification)


main()
