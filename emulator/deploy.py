"""File-based Metadata API calls of an emulated org: `deploy` and `checkDeployStatus`.

`deploy(zipFile, deployOptions)` answers an AsyncResult (`done` false, `state` Queued) and
`checkDeployStatus(asyncProcessId, includeDetails)` the finished DeployResult, as Salesforce does
(simple-salesforce 1.12.10 posts them to `.../deployRequest` and `.../deployRequest/<id>`).

What is deployed: the zip's `package.xml` (root `Package`, metadata namespace) names the members
of each type; each member is the file `<directory>/<fullName>.<suffix>` (directories and suffixes
of `metadata_api.TYPES`, e.g. `connectedApps/<Name>.connectedApp` whose root element is
`ConnectedApp`), or for settings `settings/<Name>.settings` (package type `Settings`). Every file
is decoded against the WSDL and saved through the same code as upsertMetadata (`metadata_api._save`),
so it gets the same checks and the same error text: the Spring '26 connected-app creation ban
included. A problem is a `componentFailures` entry (`problem`, `problemType` Error, `fileName`,
`fullName`, `componentType`), never a fault.

- `checkOnly` (validate only): the deploy runs in the org's transaction and is rolled back: no
  component, record, setting or Id counter changes, whatever the result. The probe is counted as a
  read by the server's request counters (server.classify).
- otherwise the deploy applies. With `rollbackOnError` (which simple-salesforce forces for a
  non-sandbox org) one failure rolls back every component (status Failed); without it the
  components that passed stay (status SucceededPartial).
- components are applied settings first, then in the order of `metadata_api.TYPES` (certificates
  before the credentials that name them), whatever order the zip has.

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
import io
import secrets
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from emulator import metadata_api as mapi
from emulator import metadata_schema as ms
from emulator.store import case_safe_id

DEPLOY_ID_PREFIX = "0Af"  # DeployRequest
MAX_KEPT_RESULTS = 200
MAX_UNZIPPED_BYTES = 20 * 1024 * 1024  # Salesforce allows 400 MB; the emulator needs far less
MAX_ZIP_ENTRIES = 10_000
PACKAGE_XML = "package.xml"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_OPTION_NAMES = {name.lower(): name for name in ms.schema().fields("DeployOptions") or {}}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


# -- results -----------------------------------------------------------------------------------------


@dataclass
class Message:
    """One DeployMessage: a component that passed (componentSuccesses) or failed (componentFailures)."""

    file_name: str
    full_name: str
    component_type: str = ""
    problem: str | None = None
    created: bool = False
    line: int | None = None
    column: int | None = None

    @property
    def success(self) -> bool:
        return self.problem is None

    def xml(self, when: str) -> str:
        values: dict[str, Any] = {
            "changed": self.success and not self.created,
            "columnNumber": self.column,
            "componentType": self.component_type,
            "created": self.success and self.created,
            "createdDate": when,
            "deleted": False,
            "fileName": self.file_name,
            "fullName": self.full_name,
            "lineNumber": self.line,
            "problem": self.problem,
            "problemType": None if self.success else "Error",
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
        return [m for m in self.messages if not m.success]

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


class _Results:
    """The last MAX_KEPT_RESULTS deploy results of each org, in memory (never in the org's store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_org: dict[str, OrderedDict[str, Job]] = {}

    def keep(self, org_id: str, job: Job) -> None:
        with self._lock:
            jobs = self._by_org.setdefault(org_id, OrderedDict())
            jobs[job.id] = job
            while len(jobs) > MAX_KEPT_RESULTS:
                jobs.popitem(last=False)

    def get(self, org_id: str, job_id: str) -> Job | None:
        with self._lock:
            jobs: dict[str, Job] = dict(self._by_org.get(org_id) or {})
            # 15- and 18-character forms of an Id name the same request.
            return next((job for key, job in jobs.items() if key[:15] == job_id[:15]), None)


RESULTS = _Results()


def _new_id() -> str:
    return case_safe_id(DEPLOY_ID_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(12)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- the request -------------------------------------------------------------------------------------


def _child(element: Any, name: str) -> Any | None:
    """The first child in the metadata namespace called `name`, compared case-insensitively."""
    for child in element:
        if isinstance(child.tag, str):
            namespace, local = ms.local_name(child)
            if namespace == ms.MD_NS and local.lower() == name.lower():
                return child
    return None


def _boolean(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise ms.SchemaViolation("Client", f"'{text}' is not a valid value for the type xsd:boolean ({name})")


def _options(element: Any | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        name: False for name in _OPTION_NAMES.values() if name not in ("runTests", "testLevel")
    }
    for child in element if element is not None else ():
        if not isinstance(child.tag, str):
            continue
        namespace, local = ms.local_name(child)
        name = _OPTION_NAMES.get(local.lower()) if namespace == ms.MD_NS else None
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
            options[name] = _boolean(text, name)
    return options


def _zip_bytes(op: Any) -> bytes:
    element = _child(op, "zipFile")
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
    options = _options(_child(op, "deployOptions"))
    raw = _zip_bytes(op)
    user = call.user
    job = Job(
        id=_new_id(),
        check_only=options["checkOnly"],
        ignore_warnings=options["ignoreWarnings"],
        rollback_on_error=options["rollbackOnError"],
        user_id=str(user.get("Id", "")),
        user_name=str(user.get("Name") or user.get("Username") or ""),
        created=_now(),
    )
    _run(call, job, raw, options)
    RESULTS.keep(call.org.org_id, job)
    answer = f"<result><done>false</done><id>{job.id}</id><state>Queued</state></result>"
    if job.check_only or (job.failures and (job.rollback_on_error or job.status == "Failed")):
        raise mapi.Discard(answer)
    return answer


def op_check_deploy_status(call: mapi.Call, op: Any) -> str:
    element = _child(op, "asyncProcessId")
    job_id = (element.text or "").strip() if element is not None else ""
    if not job_id:
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: asyncProcessId")
    details = _child(op, "includeDetails")
    include = _boolean(details.text or "", "includeDetails") if details is not None else False
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
    path: str  # inside the zip


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


def _file_of(mtype: str, member: str) -> str:
    if mtype in mapi.SETTINGS:
        return f"settings/{member}.settings"
    rules = mapi.TYPES[mtype]
    return f"{rules.directory}/{member}.{rules.suffix}"


def _members(job: Job, files: dict[str, bytes], root: str, options: dict[str, Any]) -> list[_Member]:
    """The members package.xml names (failures recorded on the job), in the order they deploy."""
    package_file = root + PACKAGE_XML
    element = _parse(files[package_file], PACKAGE_XML, PACKAGE_XML, "")
    if isinstance(element, Message):
        job.messages.append(element)
        return []
    try:
        if ms.local_name(element) != (ms.MD_NS, "Package"):
            raise ms.SchemaViolation("INVALID_FIELD", f"Root element must be Package in namespace {ms.MD_NS}")
        package = ms.decode(element, "Package")
    except ms.SchemaViolation as exc:
        job.messages.append(Message(PACKAGE_XML, PACKAGE_XML, "", f"Error parsing file: {exc.message}"))
        return []
    members: list[_Member] = []
    for entry in package.get("types") or []:
        package_type = str(entry.get("name") or "")
        names = [str(n) for n in entry.get("members") or []]
        supported = package_type == "Settings" or package_type in mapi.TYPES
        if not supported:
            job.messages.append(
                Message(
                    PACKAGE_XML,
                    PACKAGE_XML,
                    "",
                    f"Unknown type name '{package_type}' specified in package.xml",
                )
            )
            continue
        if "*" in names:
            names.remove("*")
            names += _wildcard(files, root, package_type, names)
        for name in names:
            mtype = _type_of(package_type, name)
            if mtype is None:  # a Settings member the emulator does not have
                job.messages.append(Message(f"settings/{name}.settings", name, "Settings",
                                            f"Unknown Settings name '{name}'"))  # fmt: skip
                continue
            path = root + _file_of(mtype, name)
            if path not in files:
                if not options["allowMissingFiles"]:
                    job.messages.append(Message(
                        _file_of(mtype, name), name, package_type,
                        f"An object '{name}' of type {package_type} was named in package.xml, but was not "
                        "found in zipped directory",
                    ))  # fmt: skip
                continue
            members.append(_Member(mtype, package_type, name, path))
    order = [*mapi.SETTINGS, *mapi.TYPES]
    return sorted(members, key=lambda m: order.index(m.mtype))


def _wildcard(files: dict[str, bytes], root: str, package_type: str, named: list[str]) -> list[str]:
    if package_type == "Settings":
        directory, suffix = "settings", "settings"
    else:
        directory, suffix = mapi.TYPES[package_type].directory, mapi.TYPES[package_type].suffix
    prefix, ending = f"{root}{directory}/", f".{suffix}"
    found = [p[len(prefix) : -len(ending)] for p in files if p.startswith(prefix) and p.endswith(ending)]
    return sorted(n for n in found if "/" not in n and n not in named)


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
    job.components = len(members) + len([m for m in job.messages if m.component_type])
    job.messages.append(Message(PACKAGE_XML, PACKAGE_XML, "", None))
    for member in members:
        job.messages.append(_deploy_member(call, member, files[member.path]))


def _deploy_member(call: mapi.Call, member: _Member, data: bytes) -> Message:
    file_name = _file_of(member.mtype, member.full_name)
    element = _parse(data, file_name, member.full_name, member.package_type)
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
    outcome = mapi.save_component(call, member.mtype, body, "upsert")
    if outcome.error is not None:
        return Message(file_name, member.full_name, member.package_type, outcome.error.message)
    return Message(file_name, member.full_name, member.package_type, created=outcome.created)
