"""File-based Metadata API reads of an emulated org: `retrieve`, `checkRetrieveStatus`, `describeMetadata`.

`retrieve(retrieveRequest)` answers an AsyncResult (`done` false, `state` Queued) and
`checkRetrieveStatus(asyncProcessId, includeZip)` the finished RetrieveResult, as Salesforce does;
the Salesforce CLI (source-deploy-retrieve through jsforce) and simple-salesforce 1.12.10 call them.

The zip is laid out as the CLI's source-deploy-retrieve registry says: each member is
`<directory>/<fullName>.<suffix>` (`metadata_api.TYPES`, e.g. `connectedApps/X.connectedApp`,
`externalClientApps/X.eca`, `extlClntAppGlobalOauthSets/X.ecaGlblOauth`), a certificate is
`certs/X.crt` (the certificate) beside `certs/X.crt-meta.xml` (its metadata), a Settings member is
`settings/<Name>.settings`. Each XML file is the component as readMetadata reads it (one code path,
`metadata_api.readable`: write-only fields such as consumer secrets never appear), without its
`fullName` (the file's name is the name), as a document with an XML declaration, the component's
type as root element and the metadata namespace. A `package.xml` listing the request's members
sits beside them. Without `singlePackage` everything is under `unpackaged/`, where the CLI looks.

Decisions where Salesforce's behaviour is not documented (keep them easy to change):
- A named member the org does not have is a `messages` entry, "Entity of type '<Type>' named
  '<name>' cannot be found" on package.xml; the retrieve still succeeds with what exists.
  A type the emulator does not serve: "Entity type: '<Type>' is unknown".
- `packageNames`: no managed packages exist, so each is a message "No package named '<name>' found".
- Elements of `unpackaged` without a namespace are read as metadata elements: simple-salesforce
  writes `<types>` unqualified in an envelope without a default namespace, and real orgs answer it.
- The request's one parameter is taken by position when it is not called `retrieveRequest`
  (jsforce, under the Salesforce CLI, sends `<request>`).
- Boolean request fields accept Python's `True`/`False` (simple-salesforce formats them so).
- `includeZip` left out means true; once the zip has been handed out the result is gone, and a
  later checkRetrieveStatus is the fault INVALID_LOCATOR "Retrieve result has been deleted."
- The work is done inside the `retrieve` call; results are kept in memory like deploy results.
"""

from __future__ import annotations

import base64
import copy
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from emulator import deploy
from emulator import metadata_api as mapi
from emulator import metadata_schema as ms

RETRIEVE_ID_PREFIX = "09S"  # RetrieveRequest
UNPACKAGED = "unpackaged/"


@dataclass
class RetrieveJob:
    id: str
    zip_file: bytes
    file_properties: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    handed_out: bool = False  # the zip went to the client once: the result is deleted

    def result_xml(self, include_zip: bool) -> str:
        values: dict[str, Any] = {
            "done": True,
            "fileProperties": self.file_properties,
            "id": self.id,
            "messages": self.messages,
            "status": "Succeeded",
            "success": True,
            "zipFile": base64.b64encode(self.zip_file).decode() if include_zip else None,
        }
        return f"<result>{ms.encode(values, 'RetrieveResult')}</result>"


RESULTS: deploy.KeptResults[RetrieveJob] = deploy.KeptResults()


@dataclass
class _Request:
    api_version: str
    single_package: bool
    package_names: list[str]
    specific_files: list[str]
    types: list[tuple[str, list[str]]]
    version: str


def _texts(element: Any, name: str) -> list[str]:
    return [
        (c.text or "").strip()
        for c in element
        if isinstance(c.tag, str) and ms.local_name(c)[1].lower() == name.lower()
    ]


def _qualified(element: Any) -> Any:
    """A copy of `element` whose unqualified descendants are put in the metadata namespace."""
    out = copy.deepcopy(element)
    for node in out.iter():
        if isinstance(node.tag, str) and etree.QName(node).namespace is None:
            node.tag = f"{{{ms.MD_NS}}}{etree.QName(node).localname}"
    return out


def _request(op: Any) -> _Request:
    # jsforce (so the Salesforce CLI) names the one parameter `request`, and real orgs take it: the
    # parameter is found by name, else by its position.
    element = deploy.child(op, "retrieveRequest")
    if element is None:
        element = next((c for c in op if isinstance(c.tag, str)), None)
    if element is None:
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: retrieveRequest")
    [api_version, *_] = [*_texts(element, "apiVersion"), ""]
    [single, *_] = [*_texts(element, "singlePackage"), ""]
    unpackaged = next(
        (c for c in element if isinstance(c.tag, str) and ms.local_name(c)[1] == "unpackaged"), None
    )
    package = ms.decode(_qualified(unpackaged), "Package") if unpackaged is not None else {}
    types = [
        (str(entry.get("name") or ""), [str(m) for m in entry.get("members") or []])
        for entry in package.get("types") or []
    ]
    return _Request(
        api_version=api_version,
        single_package=deploy.boolean(single, "singlePackage"),
        package_names=_texts(element, "packageNames"),
        specific_files=_texts(element, "specificFiles"),
        types=types,
        version=str(package.get("version") or api_version),
    )


def op_retrieve(call: mapi.Call, op: Any) -> str:
    """`retrieve`: build the zip now, keep the result, answer the AsyncResult (Queued)."""
    request = _request(op)
    job = _build(call, request)
    RESULTS.keep(call.org.org_id, job.id, job)
    return f"<result><done>false</done><id>{job.id}</id><state>Queued</state></result>"


def op_check_retrieve_status(call: mapi.Call, op: Any) -> str:
    [job_id, *_] = [*_texts(op, "asyncProcessId"), ""]
    if not job_id:
        raise ms.SchemaViolation("REQUIRED_FIELD_MISSING", "Required field is missing: asyncProcessId")
    [include, *_] = [*_texts(op, "includeZip"), "true"]
    include_zip = deploy.boolean(include, "includeZip")
    job = RESULTS.get(call.org.org_id, job_id)
    if job is None:
        raise ms.SchemaViolation("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {job_id}")
    if job.handed_out:
        raise ms.SchemaViolation("INVALID_LOCATOR", "Retrieve result has been deleted.")
    answer = job.result_xml(include_zip)
    if include_zip:
        job.handed_out = True
    return answer


# -- building the zip --------------------------------------------------------------------------------


def _members(call: mapi.Call, package_type: str, names: list[str]) -> list[str]:
    if "*" not in names:
        return names
    if package_type == "Settings":
        found = [full_name for full_name, _mapping in mapi.SETTINGS.values()]
    else:
        found = mapi.component_names(call, package_type)
    return sorted({*found, *(n for n in names if n != "*")})


def _mtype(package_type: str, name: str) -> str | None:
    if package_type == "Settings":
        return next((t for t, (full_name, _m) in mapi.SETTINGS.items() if full_name == name), None)
    return package_type if package_type in mapi.TYPES else None


def _file_text(root_name: str, inner: str) -> bytes:
    """A metadata file: XML declaration, the root element in the metadata namespace, indented."""
    root = etree.fromstring(f'<{root_name} xmlns="{ms.MD_NS}">{inner}</{root_name}>'.encode())
    etree.indent(root, space="    ")
    text = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()


def document(body: dict[str, Any], mtype: str) -> bytes:
    """A component as a retrieved file holds it."""
    return _file_text(mtype, ms.encode(body, mtype))


def _component_files(mtype: str, name: str, body: dict[str, Any]) -> dict[str, bytes]:
    body = {k: v for k, v in body.items() if k != "fullName"}
    path = mapi.file_name(mtype, name)
    content_field = mapi.TYPES[mtype].content if mtype in mapi.TYPES else None
    if content_field is None:
        return {path: document(body, mtype)}
    content = body.pop(content_field, None)
    return {path: base64.b64decode(content) if content else b"", f"{path}-meta.xml": document(body, mtype)}


def _package_xml(request: _Request) -> bytes:
    types = "".join(
        "<types>" + "".join(f"<members>{escape(m)}</members>" for m in members)
        + f"<name>{escape(name)}</name></types>"
        for name, members in sorted(request.types)
    )  # fmt: skip
    return _file_text("Package", f"{types}<version>{escape(request.version)}</version>")


def _package_properties(prefix: str) -> dict[str, Any]:
    when = deploy.now()
    return {
        "createdById": "",
        "createdByName": "",
        "createdDate": when,
        "fileName": f"{prefix}package.xml",
        "fullName": "package.xml",
        "id": "",
        "lastModifiedById": "",
        "lastModifiedByName": "",
        "lastModifiedDate": when,
        "manageableState": "unmanaged",
        "type": "Package",
    }


def _build(call: mapi.Call, request: _Request) -> RetrieveJob:
    prefix = "" if request.single_package else UNPACKAGED
    job = RetrieveJob(id=deploy.new_id(RETRIEVE_ID_PREFIX), zip_file=b"")
    files: dict[str, bytes] = {}
    for package_name in request.package_names:
        job.messages.append({"fileName": package_name, "problem": f"No package named '{package_name}' found"})
    for package_type, names in request.types:
        if package_type != "Settings" and package_type not in mapi.TYPES:
            job.messages.append(
                {"fileName": f"{prefix}package.xml", "problem": f"Entity type: '{package_type}' is unknown"}
            )
            continue
        for name in _members(call, package_type, names):
            mtype = _mtype(package_type, name)
            body = mapi.readable(call, mtype, name) if mtype else None
            if mtype is None or body is None:
                job.messages.append({
                    "fileName": f"{prefix}package.xml",
                    "problem": f"Entity of type '{package_type}' named '{name}' cannot be found",
                })  # fmt: skip
                continue
            component = _component_files(mtype, name, body)
            if request.specific_files and not set(component) & set(request.specific_files):
                continue
            files.update({prefix + path: data for path, data in component.items()})
            properties = mapi.file_properties(call, mtype, name)
            properties["fileName"] = prefix + properties["fileName"]
            job.file_properties.append(properties)
    files[f"{prefix}package.xml"] = _package_xml(request)
    job.file_properties.append(_package_properties(prefix))
    job.zip_file = _zip(files)
    return job


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(path, files[path])
    return buffer.getvalue()


# -- describeMetadata --------------------------------------------------------------------------------


def _metadata_object(xml_name: str, directory: str, suffix: str, meta_file: bool) -> dict[str, Any]:
    return {
        "directoryName": directory,
        "inFolder": False,
        "metaFile": meta_file,
        "suffix": suffix,
        "xmlName": xml_name,
    }


def op_describe_metadata(call: mapi.Call, op: Any) -> str:
    """The types the emulator serves, each as a real org's describeMetadata lists it (settings
    types one by one, in the `settings` directory)."""
    objects = [
        _metadata_object(mtype, rules.directory, rules.suffix, rules.content is not None)
        for mtype, rules in mapi.TYPES.items()
    ]
    objects += [_metadata_object(mtype, "settings", "settings", False) for mtype in mapi.SETTINGS]
    values = {
        "metadataObjects": sorted(objects, key=lambda o: str(o["xmlName"])),
        "organizationNamespace": "",
        "partialSaveAllowed": True,
        "testRequired": False,
    }
    return f"<result>{ms.encode(values, 'DescribeMetadataResult')}</result>"


# Joined with metadata_api.OPERATIONS by the server (this module is built on that one, not below it).
OPERATIONS: dict[str, mapi.Operation] = {
    "retrieve": op_retrieve,
    "checkRetrieveStatus": op_check_retrieve_status,
    "describeMetadata": op_describe_metadata,
}
