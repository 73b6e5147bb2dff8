"""File-based Metadata API calls of an emulated org: `deploy` and `checkDeployStatus`.

`deploy(zipFile, deployOptions)` answers an AsyncResult (`done` false, `state` Queued) and
`checkDeployStatus(asyncProcessId, includeDetails)` the finished DeployResult, as Salesforce does
(simple-salesforce 1.12.10 posts them to `.../deployRequest` and `.../deployRequest/<id>`).

What is deployed: the zip's `package.xml` (root `Package`, metadata namespace) names the members
of each type; each member is the file `<directory>/<fullName>.<suffix>` (directories and suffixes
of `metadata_api.TYPES`, as the CLI's source-deploy-retrieve registry has them, e.g.
`connectedApps/<Name>.connectedApp` whose root element is `ConnectedApp`), for a type with a
content file (Certificate) `<directory>/<fullName>.<suffix>-meta.xml` beside the content
`<directory>/<fullName>.<suffix>`, or for settings `settings/<Name>.settings` (package type
`Settings`). Every file is decoded against the WSDL and saved through the same code as
upsertMetadata (`metadata_api.save_component`), so it gets the same checks and the same error
text: the Spring '26 connected-app creation ban included. A problem is a `componentFailures` entry
(`problem`, `problemType` Error, `fileName`, `fullName`, `componentType`), never a fault.

Destructive changes (documented): `destructiveChanges.xml` and `destructiveChangesPre.xml` name
members deleted before package.xml's are saved, `destructiveChangesPost.xml` members deleted after;
the same format as package.xml but wildcards are not supported (a `*` is taken as a name). Each is
deleted as deleteMetadata deletes it (`metadata_api.delete_component`: the same cascades), and is
reported `deleted` in componentSuccesses; within one manifest dependents go first. A member the
org does not have is the warning "No <Type> named: <name> found" on the manifest (what real orgs
answer, as source-deploy-retrieve reads it); a warning fails the deploy unless ignoreWarnings.

- `checkOnly` (validate only): the deploy runs in the org's transaction and is rolled back: no
  component, record, setting or Id counter changes, whatever the result. The probe is counted as a
  read by the server's request counters (server.classify).
- otherwise the deploy applies. With `rollbackOnError` (which simple-salesforce forces for a
  non-sandbox org) one failure rolls back every component (status Failed); without it the
  components that passed stay (status SucceededPartial).
- components are applied settings first, then in the order of `metadata_api.TYPES` (certificates
  before the credentials that name them; an ECA's OAuth settings before its global OAuth
  settings), whatever order the zip has.

Decisions where Salesforce's behaviour is not documented (keep them easy to change):
- Element names of the `deploy` request match case-insensitively: simple-salesforce sends
  `ZipFile` and `DeployOptions` where the WSDL says `zipFile` and `deployOptions`, and its options
  as Python's `True`/`False`; booleans accept true/false/1/0 in any case.
- No `package.xml` (at the root with singlePackage, else at the root or one directory down):
  status Failed with one failure "No package.xml found" on `package.xml` (what real orgs answer),
  `numberComponentErrors` 0. A zip that cannot be read, or that is larger than `MAX_UNZIPPED_BYTES`
  unpacked: the same shape, problem "Unable to read the zip file: ...". A ZipFile that is not
  base64 is a `soapenv:Client` fault, as for any value the XML parser rejects.
- A member named in package.xml but missing from the zip fails with Salesforce's text "An object
  '<name>' of type <Type> was named in package.xml, but was not found in zipped directory" (skipped
  with allowMissingFiles); files the package.xml does not name are ignored; `*` names every file
  of the type's directory.
- Results are kept in memory, the last `MAX_KEPT_RESULTS` per org (a real org keeps them 30 days):
  checkDeployStatus of an unknown or forgotten id is the fault `INVALID_CROSS_REFERENCE_KEY`.
- No Apex exists, so `testLevel` and `runTests` are accepted and run nothing (0 tests).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import io
import secrets
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lxml import etree

from emulator import metadata_api as mapi
from emulator import metadata_schema as ms
from emulator.store import case_safe_id

DEPLOY_ID_PREFIX = "0Af"  # DeployRequest
MAX_KEPT_RESULTS = 200
MAX_UNZIPPED_BYTES = 20 * 1024 * 1024  # Salesforce allows 400 MB; the emulator needs far less
MAX_ZIP_ENTRIES = 10_000
PACKAGE_XML = "package.xml"
T = TypeVar("T")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


# -- results -----------------------------------------------------------------------------------------


@dataclass
class Message:
    """One DeployMessage: a component that passed (componentSuccesses) or failed (componentFailures).

    A warning (`problem_type` Warning) fails the deploy unless ignoreWarnings is set."""

    file_name: str
    full_name: str
    component_type: str = ""
    problem: str | None = None
    created: bool = False
    deleted: bool = False
    line: int | None = None
    column: int | None = None
    problem_type: str = "Error"

    @property
    def success(self) -> bool:
        return self.problem is None

    def xml(self, when: str) -> str:
        values: dict[str, Any] = {
            "changed": self.success and not self.created and not self.deleted,
            "columnNumber": self.column,
            "componentType": self.component_type,
            "created": self.success and self.created,
            "createdDate": when,
            "deleted": self.success and self.deleted,
            "fileName": self.file_name,
            "fullName": self.full_name,
            "lineNumber": self.line,
            "problem": self.problem,
            "problemType": None if self.success else self.problem_type,
            "success": self.success,
        }
        tag = "componentSuccesses" if self.success else "componentFailures"
        return f"<{tag}>{ms.encode(values, 'DeployMessage')}</{tag}>"


@dataclass
class Job:
    """A finished deploy, as checkDeployStatus reports it."""

    id: str
    check_only: bool
    ignore_warnings: bool
    rollback_on_error: bool
    user_id: str
    user_name: str
    created: str
    messages: list[Message] = field(default_factory=list)
    components: int = 0  # members of the package (package.xml itself not counted)

    @property
    def failures(self) -> list[Message]:
        """The messages that fail the deploy (a warning does not when ignoreWarnings is set)."""
        return [
            m
            for m in self.messages
            if not m.success and not (m.problem_type == "Warning" and self.ignore_warnings)
        ]

    @property
    def status(self) -> str:
        if not self.failures:
            return "Succeeded"
        component_failures = [m for m in self.failures if m.component_type]
        deployed = self.components - len(component_failures)
        if self.check_only or self.rollback_on_error or deployed == 0 or len(component_failures) == 0:
            return "Failed"
        return "SucceededPartial"

    def result_xml(self, include_details: bool) -> str:
        component_errors = len([m for m in self.failures if m.component_type])
        details = ""
        if include_details:
            details = "".join(m.xml(self.created) for m in self.messages if not m.success)
            details += "".join(m.xml(self.created) for m in self.messages if m.success)
            details += "<runTestResult><numFailures>0</numFailures><numTestsRun>0</numTestsRun>"
            details += "<totalTime>0.0</totalTime></runTestResult>"
        values: dict[str, Any] = {
            "checkOnly": self.check_only,
            "completedDate": self.created,
            "createdBy": self.user_id,
            "createdByName": self.user_name,
            "createdDate": self.created,
            "done": True,
            "id": self.id,
            "ignoreWarnings": self.ignore_warnings,
            "lastModifiedDate": self.created,
            "numberComponentErrors": component_errors,
            "numberComponentsDeployed": self.components - component_errors,
            "numberComponentsTotal": self.components,
            "numberTestErrors": 0,
            "numberTestsCompleted": 0,
            "numberTestsTotal": 0,
            "rollbackOnError": self.rollback_on_error,
            "runTestsEnabled": False,
            "startDate": self.created,
            "status": self.status,
            "success": self.status == "Succeeded",
        }
        # WSDL order puts `details` between createdDate and done: encode around it.
        before = ("checkOnly", "completedDate", "createdBy", "createdByName", "createdDate")
        head = ms.encode({k: v for k, v in values.items() if k in before}, "DeployResult")
        tail = ms.encode({k: v for k, v in values.items() if k not in before}, "DeployResult")
        return f"<result>{head}<details>{details}</details>{tail}</result>"


class KeptResults(Generic[T]):
    """The last MAX_KEPT_RESULTS results of async calls per org, in memory (never in the org's store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_org: dict[str, OrderedDict[str, T]] = {}

    def keep(self, org_id: str, job_id: str, job: T) -> None:
        with self._lock:
            jobs = self._by_org.setdefault(org_id, OrderedDict())
            jobs[job_id] = job
            while len(jobs) > MAX_KEPT_RESULTS:
                jobs.popitem(last=False)

    def get(self, org_id: str, job_id: str) -> T | None:
        with self._lock:
            jobs: dict[str, T] = dict(self._by_org.get(org_id) or {})
            # 15- and 18-character forms of an Id name the same request.
            return next((job for key, job in jobs.items() if key[:15] == job_id[:15]), None)

    def forget(self, org_id: str, job_id: str) -> None:
        with self._lock:
            jobs = self._by_org.get(org_id) or OrderedDict()
            for key in [k for k in jobs if k[:15] == job_id[:15]]:
                del jobs[key]


RESULTS: KeptResults[Job] = KeptResults()


def new_id(prefix: str = DEPLOY_ID_PREFIX) -> str:
    return case_safe_id(prefix + "".join(secrets.choice(_BASE62) for _ in range(12)))


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- the request -------------------------------------------------------------------------------------


def child(element: Any, name: str) -> Any | None:
    """The first child in the metadata namespace called `name`, compared case-insensitively."""
    for child in element:
        if isinstance(child.tag, str):
            namespace, local = ms.local_name(child)
            if namespace == ms.MD_NS and local.lower() == name.lower():
                return child
    return None


def boolean(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise ms.SchemaViolation("Client", f"'{text}' is not a valid value for the type xsd:boolean ({name})")


@functools.cache
def _option_names() -> dict[str, str]:
    # Read from the WSDL on first use, not at import: the server imports this module at start-up,
    # while the WSDL is still loading in the background (metadata_schema.preload).
    return {name.lower(): name for name in ms.schema().fields("DeployOptions") or {}}


def _options(element: Any | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        name: False for name in _option_names().values() if name not in ("runTests", "testLevel")
    }
    for child in element if element is not None else ():
        if not isinstance(child.tag, str):
            continue
        namespace, local = ms.local_name(child)
        name = _option_names().get(local.lower()) if namespace == ms.MD_NS else None
        if name is None:
            raise ms.SchemaViolation(
                "INVALID_FIELD",
                f"Element {{{namespace or ''}}}{local} invalid at this location in type DeployOptions",
            )
        text = child.text or ""
        if name == "testLevel":
            if text.strip() not in ms.schema().enums["TestLevel"]:
                raise ms.SchemaViolation("Client", f"'{text}' is not a valid value for the enum 'TestLevel'")
        elif name != "runTests":
            options[name] = boolean(text, name)
    return options


def _zip_bytes(op: Any) -> bytes:
    element = child(op, "zipFile")
    text = "".join((element.text or "").split()) if element is not None else ""
    if not text:
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: zipFile")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ms.SchemaViolation(
            "Client", "The zipFile is not a valid value for the type xsd:base64Binary"
        ) from None


def op_deploy(call: mapi.Call, op: Any) -> str:
    """`deploy`: run the whole deploy now, keep its result, answer the AsyncResult (Queued).

    Raises `mapi.Discard` (the caller rolls the org's transaction back) for a validate-only deploy
    and for a failed one with rollbackOnError."""
    options = _options(child(op, "deployOptions"))
    raw = _zip_bytes(op)
    user = call.user
    job = Job(
        id=new_id(),
        check_only=options["checkOnly"],
        ignore_warnings=options["ignoreWarnings"],
        rollback_on_error=options["rollbackOnError"],
        user_id=str(user.get("Id", "")),
        user_name=str(user.get("Name") or user.get("Username") or ""),
        created=now(),
    )
    _run(call, job, raw, options)
    RESULTS.keep(call.org.org_id, job.id, job)
    answer = f"<result><done>false</done><id>{job.id}</id><state>Queued</state></result>"
    if job.check_only or (job.failures and (job.rollback_on_error or job.status == "Failed")):
        raise mapi.Discard(answer)
    return answer


def op_check_deploy_status(call: mapi.Call, op: Any) -> str:
    element = child(op, "asyncProcessId")
    job_id = (element.text or "").strip() if element is not None else ""
    if not job_id:
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: asyncProcessId")
    details = child(op, "includeDetails")
    include = boolean(details.text or "", "includeDetails") if details is not None else False
    job = RESULTS.get(call.org.org_id, job_id)
    if job is None:
        raise ms.SchemaViolation("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {job_id}")
    return job.result_xml(include)


# -- the zip -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    mtype: str  # the emulator's metadata type (a Settings member maps to e.g. ExternalClientAppSettings)
    package_type: str  # as package.xml names it
    full_name: str
    path: str  # of its XML inside the zip (`-meta.xml` for a type with a content file)


def _read_zip(raw: bytes) -> dict[str, bytes]:
    """Every file of the zip, by path; raises ValueError when it cannot be read within the limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise ValueError(str(exc)) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_ENTRIES:
            raise ValueError(f"more than {MAX_ZIP_ENTRIES} files")
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            try:
                with archive.open(info) as handle:
                    data = handle.read(MAX_UNZIPPED_BYTES - total + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                raise ValueError(f"{info.filename}: {exc}") from None
            total += len(data)
            if total > MAX_UNZIPPED_BYTES:
                raise ValueError(f"more than {MAX_UNZIPPED_BYTES} bytes unzipped")
            files[info.filename.replace("\\", "/")] = data
        return files


def _package_root(files: dict[str, bytes], single_package: bool) -> str | None:
    """The directory prefix of the package ("" for the zip's root), or None without package.xml."""
    if PACKAGE_XML in files:
        return ""
    if single_package:
        return None
    roots = sorted(
        p[: -len(PACKAGE_XML)] for p in files if p.count("/") == 1 and p.endswith("/" + PACKAGE_XML)
    )
    return roots[0] if len(roots) == 1 else None


def _parse(data: bytes, file_name: str, full_name: str, component_type: str) -> Any:
    """The file's root element, or a failure Message for XML that does not parse."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = (exc.position or (None, None))[:2]
        return Message(
            file_name, full_name, component_type, f"Error parsing file: {exc.msg}", line=line, column=column
        )


def _type_of(package_type: str, member: str) -> str | None:
    if package_type == "Settings":
        return next((t for t, (name, _m) in mapi.SETTINGS.items() if name == member), None)
    return package_type if package_type in mapi.TYPES else None


def _xml_file_of(mtype: str, member: str) -> str:
    """The file holding a member's metadata XML: `<file>-meta.xml` beside a content file."""
    path = mapi.file_name(mtype, member)
    return f"{path}-meta.xml" if mtype in mapi.TYPES and mapi.TYPES[mtype].content else path


def _deploy_order() -> list[str]:
    """Settings first, then the type table's order (certificates before the credentials naming
    them), except that an ECA's OAuth settings go before its global OAuth settings: the order a
    real org accepts them in."""
    types = list(mapi.TYPES)
    oauth = types.index("ExtlClntAppOauthSettings")
    global_oauth = types.index("ExtlClntAppGlobalOauthSettings")
    if global_oauth < oauth:
        types[oauth], types[global_oauth] = types[global_oauth], types[oauth]
    return [*mapi.SETTINGS, *types]


def _manifest(job: Job, files: dict[str, bytes], path: str, name: str) -> list[tuple[str, list[str]]] | None:
    """(package type, members) of a package.xml-shaped manifest; None (failure recorded) if unreadable."""
    element = _parse(files[path], name, name, "")
    if isinstance(element, Message):
        job.messages.append(element)
        return None
    try:
        if ms.local_name(element) != (ms.MD_NS, "Package"):
            raise ms.SchemaViolation("INVALID_FIELD", f"Root element must be Package in namespace {ms.MD_NS}")
        package = ms.decode(element, "Package")
    except ms.SchemaViolation as exc:
        job.messages.append(Message(name, name, "", f"Error parsing file: {exc.message}"))
        return None
    out: list[tuple[str, list[str]]] = []
    for entry in package.get("types") or []:
        package_type = str(entry.get("name") or "")
        if package_type != "Settings" and package_type not in mapi.TYPES:
            job.messages.append(
                Message(name, name, "", f"Unknown type name '{package_type}' specified in {name}")
            )
            continue
        out.append((package_type, [str(n) for n in entry.get("members") or []]))
    return out


def _members(job: Job, files: dict[str, bytes], root: str, options: dict[str, Any]) -> list[_Member]:
    """The members package.xml names (failures recorded on the job), in the order they deploy."""
    entries = _manifest(job, files, root + PACKAGE_XML, PACKAGE_XML)
    members: list[_Member] = []
    for package_type, names in entries or []:
        if "*" in names:
            names.remove("*")
            names += _wildcard(files, root, package_type, names)
        for name in names:
            mtype = _type_of(package_type, name)
            if mtype is None:  # a Settings member the emulator does not have
                job.messages.append(Message(f"settings/{name}.settings", name, "Settings",
                                            f"Unknown Settings name '{name}'"))  # fmt: skip
                continue
            path = root + _xml_file_of(mtype, name)
            if path not in files:
                if not options["allowMissingFiles"]:
                    job.messages.append(Message(
                        mapi.file_name(mtype, name), name, package_type,
                        f"An object '{name}' of type {package_type} was named in package.xml, but was not "
                        "found in zipped directory",
                    ))  # fmt: skip
                continue
            members.append(_Member(mtype, package_type, name, path))
    order = _deploy_order()
    return sorted(members, key=lambda m: order.index(m.mtype))


def _wildcard(files: dict[str, bytes], root: str, package_type: str, named: list[str]) -> list[str]:
    if package_type == "Settings":
        directory, ending = "settings", ".settings"
    else:
        rules = mapi.TYPES[package_type]
        directory, ending = rules.directory, f".{rules.suffix}" + ("-meta.xml" if rules.content else "")
    prefix = f"{root}{directory}/"
    found = [p[len(prefix) : -len(ending)] for p in files if p.startswith(prefix) and p.endswith(ending)]
    return sorted(n for n in found if "/" not in n and n not in named)


# Destructive manifests, in the order their deletions run relative to package.xml's saves.
PRE, DESTRUCTIVE, POST = "destructiveChangesPre.xml", "destructiveChanges.xml", "destructiveChangesPost.xml"


@dataclass(frozen=True)
class _Deletion:
    mtype: str
    package_type: str
    full_name: str
    manifest: str


def _deletions(job: Job, files: dict[str, bytes], root: str, manifest: str) -> list[_Deletion]:
    """The members a destructive manifest names, dependents first (the reverse of the deploy
    order). Wildcards are not supported there (documented): `*` is taken as a name."""
    if root + manifest not in files:
        return []
    entries = _manifest(job, files, root + manifest, manifest)
    if entries is None:
        return []
    job.messages.append(Message(manifest, manifest, "", None))
    found: list[_Deletion] = []
    for package_type, names in entries:
        for name in names:
            mtype = _type_of(package_type, name) or package_type
            found.append(_Deletion(mtype, package_type, name, manifest))
    order = _deploy_order()
    return sorted(found, key=lambda d: -order.index(d.mtype) if d.mtype in order else 0)


def _run(call: mapi.Call, job: Job, raw: bytes, options: dict[str, Any]) -> None:
    try:
        files = _read_zip(raw)
    except ValueError as exc:
        job.messages.append(Message(PACKAGE_XML, PACKAGE_XML, "", f"Unable to read the zip file: {exc}"))
        return
    root = _package_root(files, options["singlePackage"])
    if root is None:
        job.messages.append(Message(PACKAGE_XML, PACKAGE_XML, "", "No package.xml found"))
        return
    members = _members(job, files, root, options)
    job.messages.append(Message(PACKAGE_XML, PACKAGE_XML, "", None))
    before = _deletions(job, files, root, PRE) + _deletions(job, files, root, DESTRUCTIVE)
    after = _deletions(job, files, root, POST)
    # By default deletions run before additions (documented); Post ones after them.
    job.messages.extend(_delete_member(call, d) for d in before)
    job.messages.extend(_deploy_member(call, member, files) for member in members)
    job.messages.extend(_delete_member(call, d) for d in after)
    job.components = len([m for m in job.messages if m.component_type])


def _delete_member(call: mapi.Call, deletion: _Deletion) -> Message:
    known = deletion.mtype in mapi.TYPES or deletion.mtype in mapi.SETTINGS
    if not known or not mapi.exists(call, deletion.mtype, deletion.full_name):
        # What a real org answers for a member it does not have: a warning on the manifest.
        return Message(
            deletion.manifest, deletion.manifest, deletion.package_type,
            f"No {deletion.package_type} named: {deletion.full_name} found", problem_type="Warning",
        )  # fmt: skip
    file_name = mapi.file_name(deletion.mtype, deletion.full_name)
    outcome = mapi.delete_component(call, deletion.mtype, deletion.full_name)
    if outcome.error is not None:
        return Message(file_name, deletion.full_name, deletion.package_type, outcome.error.message)
    return Message(file_name, deletion.full_name, deletion.package_type, deleted=True)


def _deploy_member(call: mapi.Call, member: _Member, files: dict[str, bytes]) -> Message:
    file_name = mapi.file_name(member.mtype, member.full_name)
    element = _parse(files[member.path], file_name, member.full_name, member.package_type)
    if isinstance(element, Message):
        return element
    try:
        if ms.local_name(element) != (ms.MD_NS, member.mtype):
            raise ms.SchemaViolation(
                "INVALID_FIELD", f"Root element must be {member.mtype} in namespace {ms.MD_NS}"
            )
        body = ms.decode(element, member.mtype)
    except ms.SchemaViolation as exc:
        return Message(file_name, member.full_name, member.package_type, f"Error parsing file: {exc.message}")
    body["fullName"] = member.full_name  # a file's name is its fullName
    content_field = mapi.TYPES[member.mtype].content if member.mtype in mapi.TYPES else None
    content = files.get(member.path.removesuffix("-meta.xml")) if content_field else None
    if content_field and content is not None:
        body[content_field] = base64.b64encode(content).decode()  # the file is the field's base64Binary
    outcome = mapi.save_component(call, member.mtype, body, "upsert")
    if outcome.error is not None:
        return Message(file_name, member.full_name, member.package_type, outcome.error.message)
    return Message(file_name, member.full_name, member.package_type, created=outcome.created)


# Joined with metadata_api.OPERATIONS by the server (this module is built on that one, not below it).
OPERATIONS: dict[str, mapi.Operation] = {
    "deploy": op_deploy,
    "checkDeployStatus": op_check_deploy_status,
}
