"""The one Salesforce access layer every orglink resource uses; this package's face re-exports the
names the resources, tests and tools use as ``salesforce.X``.

Each module holds one concern, and imports only the ones listed before it:

- ``errors``: SalesforceError, the status-code sets, ``classify`` (retry, renew or fail) and
  ``is_not_found``, the one test for "that does not exist".
- ``engine_log``: ``pulumi_log``, progress lines and warnings in the engine's output.
- ``connections``: the ``orglink:orgs`` registry filled by configure(), Connection and its checks.
- ``request_log``: the ORGLINK_REQUEST_LOG line of each request and the API families.
- ``sessions``: an org's ``requests.Session`` (timeouts, CA bundle, the request log).
- ``retry``: RetryPolicy, the backoff and time budget of retries.
- ``oauth``: the token endpoint and the JWT bearer grant the token logins share.
- ``login_sf_cli``: the Salesforce CLI's logins (auth ``sfdx`` and ``sfdx_auth_url``).
- ``login``: every auth mode's login, and the warning for logins Salesforce is retiring.
- ``metadata``: Metadata API results, the WSDL zeep speaks it with, batches, create-only elements.
- ``batching``: Coalescer, which joins resources' metadata calls into one request.
- ``client``: OrgClient, one logged-in org, and ``org()``, one per alias and process.
- ``components``: component locks and ``modify_component`` (grouped read-modify-write).
- ``concurrency``: ``together`` and ``all_at_once``, independent requests sent at once.
- ``records``: the SOQL quoting helper ``quoted``; users and permission sets looked up once per
  operation (``remember``-ed from a query of many); junction rows found or inserted.
- ``soap_probe``: validate-only deploys through simple-salesforce (the Preflight's creation probe).
- ``metadata_wsdl``: the trimmed Metadata WSDL.
"""

from providers.salesforce.client import OrgClient, org
from providers.salesforce.components import Change, component_lock, modify_component
from providers.salesforce.concurrency import all_at_once, together
from providers.salesforce.connections import (
    CONFIG_KEY,
    Connection,
    configure_orgs,
    configured_aliases,
    connection,
    orgs_value,
    reset,
)
from providers.salesforce.engine_log import pulumi_log
from providers.salesforce.errors import SESSION_CODES, TRANSIENT_CODES, SalesforceError, is_not_found
from providers.salesforce.login import _soap_login, legacy_auth_warnings, warn_legacy_auth
from providers.salesforce.login_sf_cli import parse_sfdx_auth_url
from providers.salesforce.metadata import MetadataResult
from providers.salesforce.metadata import wsdl_document as _metadata_wsdl
from providers.salesforce.request_log import REQUEST_FAMILIES, REQUEST_LOG_ENV

# What other code reaches as ``salesforce.X``; the two private names serve the contract tool
# (a SOAP login probe) and the start-up bench (the WSDL parse).
__all__ = [
    "CONFIG_KEY",
    "Change",
    "Connection",
    "MetadataResult",
    "OrgClient",
    "REQUEST_FAMILIES",
    "REQUEST_LOG_ENV",
    "SESSION_CODES",
    "SalesforceError",
    "TRANSIENT_CODES",
    "_metadata_wsdl",
    "_soap_login",
    "all_at_once",
    "component_lock",
    "configure_orgs",
    "configured_aliases",
    "connection",
    "is_not_found",
    "legacy_auth_warnings",
    "modify_component",
    "org",
    "parse_sfdx_auth_url",
    "orgs_value",
    "pulumi_log",
    "reset",
    "together",
    "warn_legacy_auth",
]
