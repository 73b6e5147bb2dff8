"""One logged-in org: :class:`OrgClient`, and ``org()``, which makes one per alias and process.

REST goes through ``simple_salesforce.Salesforce`` and the Metadata API through zeep with the WSDL
simple-salesforce ships. Both share one ``requests.Session`` so the configured CA bundle reaches
every call (simple-salesforce's own ``mdapi`` builds a zeep client with a private session that only
``REQUESTS_CA_BUNDLE`` could reach; we build our own).

Every call goes through :meth:`OrgClient.call`: transient failures are retried with exponential
backoff and full jitter inside a total time budget, and an expired session is renewed once.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import requests
import zeep
import zeep.helpers
from simple_salesforce import Salesforce

from providers.salesforce.batching import Coalescer
from providers.salesforce.connections import (
    CONFIG_KEY,
    Connection,
    connection,
    per_alias_cache,
    registry_lock,
)
from providers.salesforce.engine_log import pulumi_log
from providers.salesforce.errors import (
    TRANSIENT_CODES,
    RetryableResultError,
    SalesforceError,
    as_salesforce_error,
    classify,
    is_not_found,
    short_reason,
)
from providers.salesforce.login import log_in
from providers.salesforce.metadata import (
    ZEEP_SETTINGS,
    MetadataResult,
    MetadataTransport,
    batches,
    metadata_result,
    plain,
    raise_on_failure,
    without_create_only,
    wsdl_document,
)
from providers.salesforce.oauth import LoginResult
from providers.salesforce.retry import RetryPolicy, retry_policy_from_env
from providers.salesforce.sessions import new_session

T = TypeVar("T")

_clients: dict[str, OrgClient] = per_alias_cache({})
_client_locks: dict[str, threading.Lock] = {}


class OrgClient:
    """One logged-in org, shared by every resource in this process (thread-safe)."""

    def __init__(self, conn: Connection, retry: RetryPolicy | None = None) -> None:
        self.alias = conn.alias
        self._conn = conn
        self.api_version = conn.api_version
        self.retry = retry or retry_policy_from_env()
        self._lock = threading.Lock()
        # The components this process last read or wrote (see known_component); one provider
        # process lives for one pulumi operation, so this never outlives it.
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._lookups: dict[str, Any] = {}
        self._lookup_locks: dict[str, threading.Lock] = {}
        self._created: set[tuple[str, str]] = set()
        self._coalescer = Coalescer()
        self._known_lock = threading.Lock()
        self._session = new_session(conn.ca_bundle, conn.alias)
        self._login_result = self._login_with_retries()
        self.sf = self._rest_client()
        self._zeep = zeep.Client(
            wsdl_document(),
            transport=MetadataTransport(session=self._session),
            settings=ZEEP_SETTINGS,
        )
        self._metadata = self._zeep.create_service(
            "{http://soap.sforce.com/2006/04/metadata}MetadataBinding", self.sf.metadata_url
        )

    # -- what this process last saw of each component ------------------------------------------

    def known_component(self, mtype: str, full_name: str) -> dict[str, Any] | None:
        """The component as this process last read or wrote it, or None when it has not seen it since.

        Lets a read-modify-write skip the read when a sibling resource of the same operation has
        just read or written the component (an app's policy after the app's create, its run-as user
        after the policy). Every write that does not go through modify_component forgets it.
        """
        with self._known_lock:
            found = self._known.get((mtype, full_name.lower()))
        return copy.deepcopy(found) if found is not None else None

    def remember_component(self, mtype: str, full_name: str, component: dict[str, Any] | None) -> None:
        with self._known_lock:
            if component is None:
                self._known.pop((mtype, full_name.lower()), None)
            else:
                self._known[(mtype, full_name.lower())] = copy.deepcopy(component)

    def created_here(self, mtype: str, full_name: str) -> bool:
        """True when this process created the component: nothing in the org can point at it yet
        (a new app has no access rows), so a caller may skip looking for such things."""
        with self._known_lock:
            return (mtype, full_name.lower()) in self._created

    def _forget(self, mtype: str, full_names: list[str]) -> None:
        for name in full_names:
            self.remember_component(mtype, name, None)

    def lookup(self, key: str, ask: Callable[[], T], keep: Callable[[T], bool] = bool) -> T:
        """``ask()`` once per process for a fact that does not change during one operation (a
        user's profile, a profile's permission set Id): K integrations share one query, not K, also
        when they ask at the same moment. Failures, empty answers (nothing found yet: it may be
        made later) and answers ``keep`` refuses are not remembered."""
        with self._known_lock:
            if key in self._lookups:
                return copy.deepcopy(self._lookups[key])  # type: ignore[no-any-return]
            one_asker = self._lookup_locks.setdefault(key, threading.Lock())
        with one_asker:
            with self._known_lock:
                if key in self._lookups:
                    return copy.deepcopy(self._lookups[key])  # type: ignore[no-any-return]
            answer = ask()
            if keep(answer):
                with self._known_lock:
                    self._lookups[key] = copy.deepcopy(answer)
        return answer

    def remember(self, key: str, answer: Any) -> None:
        """Record ``answer`` for ``lookup(key, ...)`` when nothing is known under ``key`` yet: a query
        that answered for many facts at once (all callout users) answers each fact's own lookup."""
        with self._known_lock:
            self._lookups.setdefault(key, copy.deepcopy(answer))

    # -- session ---------------------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        return self._login_result.instance_url

    @property
    def session(self) -> requests.Session:
        return self._session

    def _login_with_retries(self) -> LoginResult:
        deadline = time.monotonic() + self.retry.budget_s
        attempt = 0
        while True:
            try:
                return log_in(self._conn, self._session)
            except Exception as exc:
                if classify(exc) == "transient" and time.monotonic() + self.retry.delay(attempt) < deadline:
                    time.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise as_salesforce_error(self.alias, "login", exc) from None

    def _rest_client(self) -> Salesforce:
        return Salesforce(
            instance_url=self._login_result.instance_url,
            session_id=self._login_result.session_id,
            version=self.api_version,
            session=self._session,
        )

    def _renew_session(self, stale_session_id: str) -> None:
        """Log in again, once for all threads that saw the same expired session."""
        with self._lock:
            if self._login_result.session_id != stale_session_id:
                return  # another thread already renewed it
            if self._conn.auth == "access_token":
                raise SalesforceError(
                    self.alias,
                    None,
                    f"{CONFIG_KEY}.{self.alias}.access_token",
                    "INVALID_SESSION_ID",
                    "the configured access token has expired; set a fresh one",
                )
            self._login_result = self._login_with_retries()
            self.sf = self._rest_client()

    def _session_header(self) -> Any:
        return self._zeep.get_element("ns0:SessionHeader")(sessionId=self._login_result.session_id)

    def _soap(self, operation: str, *args: Any) -> Any:
        """One Metadata API operation, with the session current at the time it is sent."""
        return getattr(self._metadata, operation)(*args, _soapheaders=[self._session_header()])

    # -- the one way every request is made ---------------------------------------------------

    def call(self, what: str, request: Callable[[], T]) -> T:
        """Run ``request``; retry transient failures within the budget; renew an expired session once.

        ``request`` must read ``self.sf`` / the session header when it runs (not capture them
        earlier), so a retry after a renewal uses the new session.
        """
        deadline = time.monotonic() + self.retry.budget_s
        attempt = 0
        renewed = False
        while True:
            session_id = self._login_result.session_id
            try:
                return request()
            except Exception as exc:
                kind = classify(exc)
                if kind == "session" and not renewed:
                    pulumi_log(f"{self.alias}: session expired during {what}; logging in again")
                    self._renew_session(session_id)
                    renewed = True
                    continue
                delay = self.retry.delay(attempt)
                if kind == "transient" and time.monotonic() + delay < deadline:
                    pulumi_log(
                        f"{self.alias}: {what} failed ({short_reason(exc)}); "
                        f"retry {attempt + 1} in {delay:.1f}s"
                    )
                    time.sleep(delay)
                    attempt += 1
                    continue
                raise as_salesforce_error(self.alias, what, exc) from None

    # -- REST ----------------------------------------------------------------------------------

    def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, without the `attributes` entries."""
        result = self.call(f"query {soql.split(' FROM ')[-1].split()[0]}", lambda: self.sf.query_all(soql))
        return [_strip_attributes(record) for record in result.get("records", [])]

    def create_record(self, sobject: str, values: dict[str, Any]) -> str:
        result = self.call(f"create {sobject}", lambda: getattr(self.sf, sobject).create(values))
        return str(result["id"])

    def delete_record(self, sobject: str, record_id: str) -> bool:
        """Delete a record; False when it was already gone."""
        try:
            self.call(f"delete {sobject} {record_id}", lambda: getattr(self.sf, sobject).delete(record_id))
        except SalesforceError as err:
            if is_not_found(err, deleting=True):
                return False
            raise
        return True

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call relative to /services/data/vXX.X/ (JSON in, JSON out)."""
        return self.call(
            f"{method} {path.split('?')[0]}", lambda: self.sf.restful(path, method=method, **kwargs)
        )

    # -- Metadata API ----------------------------------------------------------------------------

    def read_metadata(self, mtype: str, full_names: list[str]) -> dict[str, dict[str, Any] | None]:
        """Read components by name (batched by 10, with other resources' reads of the type); a
        missing component maps to None."""
        found: dict[str, dict[str, Any] | None] = {}
        for batch in batches(full_names):
            records = self._coalescer.run(("read", mtype), batch, partial(self._read_batch, mtype))
            found.update(zip(batch, records, strict=True))
        for name, component in found.items():
            self.remember_component(mtype, name, component)
        return found

    def _read_batch(self, mtype: str, names: list[str]) -> list[dict[str, Any] | None]:
        records = self.call(f"read {mtype}", partial(self._soap, "readMetadata", mtype, names))
        by_name: dict[str, dict[str, Any]] = {}
        for record in records or []:
            found = plain(zeep.helpers.serialize_object(record, dict)) if record is not None else None
            if found and found.get("fullName"):
                by_name[str(found["fullName"]).lower()] = found  # names are case-insensitive
        return [copy.deepcopy(by_name.get(name.lower())) for name in names]

    def read_component(self, mtype: str, full_name: str) -> dict[str, Any] | None:
        return self.read_metadata(mtype, [full_name])[full_name]

    def list_metadata(self, mtype: str, folder: str | None = None) -> list[dict[str, Any]]:
        """The type's components; resources listing the same type at the same time share one answer."""

        def send(callers: list[None]) -> list[list[dict[str, Any]]]:
            query = self._zeep.get_type("ns0:ListMetadataQuery")(type=mtype, folder=folder)
            results = self.call(
                f"list {mtype}", partial(self._soap, "listMetadata", [query], self.api_version)
            )
            listed = [plain(zeep.helpers.serialize_object(r, dict)) for r in results or []]
            return [copy.deepcopy(listed) for _ in callers]

        [listed] = self._coalescer.run(("list", mtype, folder or ""), [None], send)
        return listed  # type: ignore[no-any-return]

    def create_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        return self._save("createMetadata", mtype, components)

    def update_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        """Update existing components; their create-only elements (CREATE_ONLY) are never sent."""
        return self._save("updateMetadata", mtype, [without_create_only(mtype, c) for c in components])

    def upsert_metadata(self, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        return self._save("upsertMetadata", mtype, components)

    def delete_metadata(self, mtype: str, full_names: list[str]) -> list[MetadataResult]:
        self._forget(mtype, full_names)
        results: list[MetadataResult] = []

        def send(names: list[str]) -> list[MetadataResult]:
            return self._with_transient_results(
                f"delete {mtype}", partial(self._soap, "deleteMetadata", mtype, names)
            )

        for batch in batches(full_names):
            results.extend(self._coalescer.run(("deleteMetadata", mtype), batch, send))
        return results

    def rename_metadata(self, mtype: str, old_full_name: str, new_full_name: str) -> MetadataResult:
        self._forget(mtype, [old_full_name, new_full_name])
        rename = partial(self._soap, "renameMetadata", mtype, old_full_name, new_full_name)
        return self._with_transient_results(f"rename {mtype}", lambda: [rename()])[0]

    def _save(self, operation: str, mtype: str, components: list[dict[str, Any]]) -> list[MetadataResult]:
        component_type = self._zeep.get_type(f"ns0:{mtype}")
        results: list[MetadataResult] = []
        for batch in batches(components):
            # A typed top-level object: a plain dict would go out without xsi:type.
            typed = [component_type(**component) for component in batch]
            names = [str(component.get("fullName", "")) for component in batch]
            # Before and after: a write racing a modify_component must leave nothing stale behind.
            self._forget(mtype, names)
            try:
                saved = self._coalescer.run(
                    (operation, mtype), typed, partial(self._send_save, operation, mtype)
                )
            finally:
                self._forget(mtype, names)
            if operation == "createMetadata":
                with self._known_lock:
                    self._created.update((mtype, r.full_name.lower()) for r in saved if r.success)
            results.extend(saved)
        return results

    def _send_save(self, operation: str, mtype: str, typed: list[Any]) -> list[MetadataResult]:
        return self._with_transient_results(
            f"{operation.replace('Metadata', '')} {mtype}", partial(self._soap, operation, typed)
        )

    def _with_transient_results(self, what: str, request: Callable[[], Any]) -> list[MetadataResult]:
        """Like call(), but a result failing with a transient code (ALREADY_IN_PROCESS...) also retries.

        Saves and deletes are retried whole, also when the call carries several resources'
        components (Coalescer): an update sent twice is the same update, and create/delete callers
        treat "already exists as we made it"/"already gone" after a retry as done.
        """

        def attempt() -> list[MetadataResult]:
            results = [metadata_result(raw) for raw in (request() or [])]
            for result in results:
                for problem in result.problems:
                    if problem.status_code in TRANSIENT_CODES:
                        raise RetryableResultError(problem.status_code, problem.message)
            return results

        return self.call(what, attempt)

    # -- strict single-component helpers --------------------------------------------------------

    def create_component(self, mtype: str, component: dict[str, Any]) -> None:
        raise_on_failure(self.alias, f"create {mtype}", self.create_metadata(mtype, [component]))

    def update_component(self, mtype: str, component: dict[str, Any]) -> None:
        raise_on_failure(self.alias, f"update {mtype}", self.update_metadata(mtype, [component]))

    def upsert_component(self, mtype: str, component: dict[str, Any]) -> bool:
        """Create or update; True when it was created."""
        results = self.upsert_metadata(mtype, [component])
        raise_on_failure(self.alias, f"upsert {mtype}", results)
        return bool(results[0].created)

    def delete_component(self, mtype: str, full_name: str) -> bool:
        """Delete; False when it did not exist."""
        result = self.delete_metadata(mtype, [full_name])[0]
        if result.success:
            return True
        if any(is_not_found(p.status_code, deleting=True) for p in result.problems):
            return False
        raise result.error(self.alias, f"delete {mtype}")

    def rename_component(self, mtype: str, old_full_name: str, new_full_name: str) -> None:
        raise_on_failure(
            self.alias, f"rename {mtype}", [self.rename_metadata(mtype, old_full_name, new_full_name)]
        )


def _strip_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        out[key] = _strip_attributes(value) if isinstance(value, Mapping) else value
    return out


def org(alias: str) -> OrgClient:
    """The logged-in client for an org alias, created once per process (per configuration)."""
    conn = connection(alias)
    with registry_lock:
        client = _clients.get(alias)
        if client is not None and client._conn == conn:
            return client
        alias_lock = _client_locks.setdefault(alias, threading.Lock())
    # Log in outside the registry lock so one slow org does not block the others.
    with alias_lock:
        with registry_lock:
            client = _clients.get(alias)
            if client is not None and client._conn == conn:
                return client
        pulumi_log(f"{alias}: logging in ({conn.auth})")
        client = OrgClient(conn)
        with registry_lock:
            _clients[alias] = client
        return client
