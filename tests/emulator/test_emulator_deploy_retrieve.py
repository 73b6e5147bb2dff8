"""Deploys that change an org for real, retrieves of what is there, and describeMetadata: over HTTPS
through unmodified simple-salesforce 1.12.10 (deploy, checkDeployStatus, retrieve, retrieve_zip,
describe_metadata) and the zeep service it wraps (the DeployResult details and RetrieveResult
fields simple-salesforce does not hand back).

The `emulator` fixture is shared by the session: names are unique per test, and a test that changes
the connected-app creation setting puts it back.
"""

from __future__ import annotations

import base64
import io
import secrets
import zipfile
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from simple_salesforce import Salesforce

from tests.emulator_fixtures import API_VERSION, EmulatorHandle
from tests.metadata_zip import (
    MD_NS,
    XML_DECLARATION,
    app_xml,
    deploy,
    deploy_details,
    document,
    eca_files,
    eca_members,
    messages_by_name,
    package,
    zeep_call,
    zip_of,
)

ORG = "orgB"

# The CLI's source-deploy-retrieve registry (metadataRegistry.json, and the describeMetadata answer
# of a real org its maintainers keep beside it): directory, suffix, metaFile.
REGISTRY = {
    "Certificate": ("certs", "crt", True),
    "ConnectedApp": ("connectedApps", "connectedApp", False),
    "ExternalClientApplication": ("externalClientApps", "eca", False),
    "ExternalCredential": ("externalCredentials", "externalCredential", False),
    "ExtlClntAppConfigurablePolicies": ("extlClntAppPolicies", "ecaPlcy", False),
    "ExtlClntAppGlobalOauthSettings": ("extlClntAppGlobalOauthSets", "ecaGlblOauth", False),
    "ExtlClntAppOauthConfigurablePolicies": ("extlClntAppOauthPolicies", "ecaOauthPlcy", False),
    "ExtlClntAppOauthSettings": ("extlClntAppOauthSettings", "ecaOauth", False),
    "NamedCredential": ("namedCredentials", "namedCredential", False),
    "PermissionSet": ("permissionsets", "permissionset", False),
    "ConnectedAppSettings": ("settings", "settings", False),
    "ExternalClientAppSettings": ("settings", "settings", False),
}


def _name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def _retrieve(sf: Salesforce, members: dict[str, list[str]], single_package: bool = False) -> Any:
    """simple-salesforce's retrieve; the RetrieveResult (without the zip) read through zeep."""
    async_id, state = sf.mdapi.retrieve("", unpackaged=members, single_package=single_package)
    assert state == "Queued" and async_id and async_id.startswith("09S")
    return zeep_call(sf, "checkRetrieveStatus", async_id, False)


def _retrieved_zip(sf: Salesforce, async_id: str) -> zipfile.ZipFile:
    state, error, _messages, raw = sf.mdapi.retrieve_zip(async_id)
    assert (state, error) == ("Succeeded", None)
    return zipfile.ZipFile(io.BytesIO(raw))


def _stored(emulator: EmulatorHandle, mtype: str, name: str) -> dict[str, Any]:
    component = emulator.admin.get_component(ORG, mtype, name)
    assert component is not None, f"{mtype} {name} is not in the org"
    return component


def _root(data: bytes) -> Any:
    assert data.startswith(XML_DECLARATION.encode())
    return etree.fromstring(data)


def test_a_deploy_creates_then_updates_a_connected_app_and_an_eca_and_destructive_changes_delete_them(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    app, eca = _name("Deploy_App"), _name("Deploy_Eca")
    members = {"ConnectedApp": [app], **eca_members(eca)}

    def zip_with(label: str) -> io.BytesIO:
        return zip_of(
            {"package.xml": package(members), f"connectedApps/{app}.connectedApp": app_xml(label),
             **eca_files(eca, label)}
        )  # fmt: skip

    created = deploy(sf, zip_with("First"), sandbox=True)
    assert created["state"] == "Succeeded", created
    details = messages_by_name(deploy_details(sf, str(created["asyncId"])))
    for name in (app, eca, f"{eca}_oauth", f"{eca}_glbloauth"):
        assert (details[name].created, details[name].changed, details[name].success) == (True, False, True)
    assert details[app].fileName == f"connectedApps/{app}.connectedApp"
    assert details[f"{eca}_glbloauth"].componentType == "ExtlClntAppGlobalOauthSettings"
    stored_app = _stored(emulator, "ConnectedApp", app)
    key = stored_app["oauthConfig"]["consumerKey"]
    assert emulator.admin.get_component(ORG, "ExtlClntAppGlobalOauthSettings", f"{eca}_glbloauth")

    updated = deploy(sf, zip_with("Second"), sandbox=True)
    assert updated["state"] == "Succeeded", updated
    details = messages_by_name(deploy_details(sf, str(updated["asyncId"])))
    assert (details[app].created, details[app].changed) == (False, True)
    assert (details[eca].created, details[eca].changed) == (False, True)
    stored_app = _stored(emulator, "ConnectedApp", app)
    assert stored_app["label"] == "Second" and stored_app["oauthConfig"]["consumerKey"] == key
    assert _stored(emulator, "ExternalClientApplication", eca)["label"] == "Second"

    destructive = {"ConnectedApp": [app], "ExternalClientApplication": [eca]}
    deleted = deploy(
        sf, zip_of({"package.xml": package(), "destructiveChanges.xml": package(destructive)}), sandbox=True
    )
    assert deleted["state"] == "Succeeded", deleted
    details = messages_by_name(deploy_details(sf, str(deleted["asyncId"])))
    assert (details[app].deleted, details[app].componentType) == (True, "ConnectedApp")
    assert details[eca].deleted is True and "destructiveChanges.xml" in details
    assert emulator.admin.get_component(ORG, "ConnectedApp", app) is None
    # The header takes its parts with it, as deleteMetadata does.
    for mtype, name in (("ExternalClientApplication", eca), ("ExtlClntAppOauthSettings", f"{eca}_oauth"),
                        ("ExtlClntAppGlobalOauthSettings", f"{eca}_glbloauth")):  # fmt: skip
        assert emulator.admin.get_component(ORG, mtype, name) is None

    # Deleting what is not there is a warning, which fails the deploy unless ignoreWarnings is set.
    again = zip_of({"package.xml": package(), "destructiveChanges.xml": package({"ConnectedApp": [app]})})
    warned = deploy(sf, again, sandbox=True)
    assert warned["state"] == "Failed"
    [warning] = warned["deployment_detail"]["errors"]
    assert (warning["message"], warning["status"], warning["file"]) == (
        f"No ConnectedApp named: {app} found", "Warning", "destructiveChanges.xml",
    )  # fmt: skip
    again.seek(0)
    assert deploy(sf, again, sandbox=True, ignoreWarnings=True)["state"] == "Succeeded"


def test_pre_deletions_run_before_the_package_and_post_deletions_after_it(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    app = _name("Order_App")
    files: dict[str, str | bytes] = {
        "package.xml": package({"ConnectedApp": [app]}),
        f"connectedApps/{app}.connectedApp": app_xml("Ordered"),
    }
    assert deploy(sf, zip_of(files), sandbox=True)["state"] == "Succeeded"
    key = _stored(emulator, "ConnectedApp", app)["oauthConfig"]["consumerKey"]

    pre = deploy(sf, zip_of({**files, "destructiveChangesPre.xml": package({"ConnectedApp": [app]})}))
    assert pre["state"] == "Succeeded", pre
    details = messages_by_name(deploy_details(sf, str(pre["asyncId"])))
    assert details[app].created is True  # deleted first, then made anew: a new consumer key
    assert _stored(emulator, "ConnectedApp", app)["oauthConfig"]["consumerKey"] != key

    post = deploy(sf, zip_of({**files, "destructiveChangesPost.xml": package({"ConnectedApp": [app]})}))
    assert post["state"] == "Succeeded", post
    assert emulator.admin.get_component(ORG, "ConnectedApp", app) is None


def test_rollback_on_error_keeps_what_the_destructive_changes_named(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None, connected_app: Any
) -> None:
    kept = connected_app()
    bad = _name("Bad_App")
    files: dict[str, str | bytes] = {
        "package.xml": package({"ConnectedApp": [bad]}),
        f"connectedApps/{bad}.connectedApp": app_xml(bad).replace(
            "<label>", "<profileName>No Such Profile</profileName><label>"
        ),
        "destructiveChanges.xml": package({"ConnectedApp": [kept.name]}),
    }
    before = emulator.admin.snapshot(ORG)
    result = deploy(sf, zip_of(files), sandbox=False)  # rollbackOnError, as for a production org
    assert result["state"] == "Failed"
    assert emulator.admin.snapshot(ORG) == before
    assert emulator.admin.get_component(ORG, "ConnectedApp", kept.name) is not None


def test_retrieve_lays_the_zip_out_as_the_cli_registry_says_without_write_only_fields(
    emulator: EmulatorHandle, sf: Salesforce, creation_allowed: None
) -> None:
    app, eca = _name("Retrieve_App"), _name("Retrieve_Eca")
    files = {
        "package.xml": package({"ConnectedApp": [app], **eca_members(eca)}),
        f"connectedApps/{app}.connectedApp": app_xml("Retrieved"),
        **eca_files(eca, "Retrieved"),
    }
    assert deploy(sf, zip_of(files), sandbox=True)["state"] == "Succeeded"
    secret = _stored(emulator, "ConnectedApp", app)["oauthConfig"]["consumerSecret"]
    global_settings = _stored(emulator, "ExtlClntAppGlobalOauthSettings", f"{eca}_glbloauth")
    eca_secret = global_settings["consumerSecret"]
    try:
        wanted = {
            "ConnectedApp": [app, "No_Such_App"],
            **eca_members(eca),
            "ExtlClntAppOauthConfigurablePolicies": [f"{eca}_oauthPlcy"],
            "ExtlClntAppConfigurablePolicies": [f"{eca}_plcy"],
            "Settings": ["ExternalClientApp"],
        }
        result = _retrieve(sf, wanted)
        assert (result.done, result.status, result.success) == (True, "Succeeded", True)
        assert [(m.fileName, m.problem) for m in result.messages] == [
            ("unpackaged/package.xml", "Entity of type 'ConnectedApp' named 'No_Such_App' cannot be found")
        ]
        by_file = {p.fileName: p for p in result.fileProperties}
        assert by_file[f"unpackaged/connectedApps/{app}.connectedApp"].type == "ConnectedApp"
        assert by_file["unpackaged/package.xml"].type == "Package"

        archive = _retrieved_zip(sf, result.id)
        assert sorted(archive.namelist()) == sorted([
            "unpackaged/package.xml",
            f"unpackaged/connectedApps/{app}.connectedApp",
            f"unpackaged/externalClientApps/{eca}.eca",
            f"unpackaged/extlClntAppOauthSettings/{eca}_oauth.ecaOauth",
            f"unpackaged/extlClntAppGlobalOauthSets/{eca}_glbloauth.ecaGlblOauth",
            f"unpackaged/extlClntAppOauthPolicies/{eca}_oauthPlcy.ecaOauthPlcy",
            f"unpackaged/extlClntAppPolicies/{eca}_plcy.ecaPlcy",
            "unpackaged/settings/ExternalClientApp.settings",
        ])  # fmt: skip
        ns = {"m": MD_NS}
        app_root = _root(archive.read(f"unpackaged/connectedApps/{app}.connectedApp"))
        assert app_root.tag == f"{{{MD_NS}}}ConnectedApp"
        assert app_root.findtext("m:label", None, ns) == "Retrieved"
        assert app_root.find("m:fullName", ns) is None  # the file's name is the name
        assert app_root.find("m:oauthConfig/m:consumerSecret", ns) is None
        eca_root = _root(archive.read(f"unpackaged/extlClntAppGlobalOauthSets/{eca}_glbloauth.ecaGlblOauth"))
        assert eca_root.tag == f"{{{MD_NS}}}ExtlClntAppGlobalOauthSettings"
        assert eca_root.findtext("m:externalClientApplication", None, ns) == eca
        settings_root = _root(archive.read("unpackaged/settings/ExternalClientApp.settings"))
        assert settings_root.tag == f"{{{MD_NS}}}ExternalClientAppSettings"
        manifest = _root(archive.read("unpackaged/package.xml"))
        assert manifest.findtext("m:version", None, ns) == API_VERSION
        everything = b"".join(archive.read(n) for n in archive.namelist())
        assert secret.encode() not in everything and eca_secret.encode() not in everything

        # The zip is handed out once; then the result is gone, as on a real org.
        with pytest.raises(Exception, match="INVALID_LOCATOR"):
            sf.mdapi.retrieve_zip(result.id)
    finally:
        emulator.admin.delete_component(ORG, "ConnectedApp", app)
        emulator.admin.delete_component(ORG, "ExternalClientApplication", eca)


def test_a_certificate_deploys_from_its_meta_file_and_retrieves_as_crt_beside_it(
    emulator: EmulatorHandle, sf: Salesforce
) -> None:
    name = _name("Deploy_Cert")
    meta = document(
        "Certificate", f"<caSigned>false</caSigned><keySize>2048</keySize><masterLabel>{name}</masterLabel>"
    )
    files = {"package.xml": package({"Certificate": [name]}), f"certs/{name}.crt-meta.xml": meta}
    result = deploy(sf, zip_of(files), sandbox=True)
    assert result["state"] == "Succeeded", result
    try:
        retrieved = _retrieve(sf, {"Certificate": [name]}, single_package=True)
        archive = _retrieved_zip(sf, retrieved.id)
        assert sorted(archive.namelist()) == [
            "certs/" + name + ".crt",
            f"certs/{name}.crt-meta.xml",
            "package.xml",
        ]
        certificate = x509.load_der_x509_certificate(base64.b64decode(archive.read(f"certs/{name}.crt")))
        [common_name] = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert common_name.value == name
        meta_root = _root(archive.read(f"certs/{name}.crt-meta.xml"))
        assert meta_root.find(f"{{{MD_NS}}}content") is None
        assert meta_root.findtext(f"{{{MD_NS}}}masterLabel") == name
        assert all(b"PRIVATE KEY" not in archive.read(n) for n in archive.namelist())
    finally:
        emulator.admin.delete_component(ORG, "Certificate", name)


def test_describe_metadata_lists_the_types_served_as_the_registry_has_them(sf: Salesforce) -> None:
    described = sf.mdapi.describe_metadata()
    found = {o.xmlName: (o.directoryName, o.suffix, o.metaFile) for o in described.metadataObjects}
    assert found == REGISTRY
    assert all(o.inFolder is False for o in described.metadataObjects)
    assert (described.organizationNamespace, described.partialSaveAllowed, described.testRequired) == (
        None, True, False,
    )  # fmt: skip
