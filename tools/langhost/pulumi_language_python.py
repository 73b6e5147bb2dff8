"""orglink's Python language host for the Pulumi engine.

Why this exists: the engine starts a program through a *language host* plugin named
`pulumi-language-python`. Upstream that is a Go binary in the module
`github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3`, which the Go module proxy
reachable from our machines refuses at every version (HTTP 403), so it cannot be built offline.
This host implements the same `LanguageRuntime` gRPC service with the SDK's own generated stubs
and runs the program exactly as the Go host does: through the SDK's `pulumi-language-python-exec`
shim, with the virtualenv named in Pulumi.yaml, the config in `PULUMI_CONFIG` and the secret keys
in `PULUMI_CONFIG_SECRET_KEYS`. The engine itself (the `pulumi` CLI, state, diffs, plugins and the
dynamic-provider plugin) is the real, unmodified one.

Protocol: started as `pulumi-language-python [flags] <engine-address>`, it prints the port it
listens on and serves until the engine kills it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

# The exec shim exits with this code after it has already shown the user an actionable message.
EXITED_AFTER_SHOWING_MESSAGE = 32
EXEC_SHIM = "pulumi-language-python-exec"


def find_exec_shim(given: str | None) -> str:
    if given:
        return given
    on_path = shutil.which(EXEC_SHIM)
    if on_path is None:
        raise SystemExit(f"could not find `{EXEC_SHIM}` beside the language host or on PATH")
    return on_path


def struct_to_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value[key] for key in value}


def virtualenv_python(info: language_pb2.ProgramInfo) -> tuple[str, str | None]:
    """The interpreter that runs the program: the project's virtualenv if it names one."""
    options = struct_to_dict(info.options)
    venv = options.get("virtualenv")
    if not venv:
        return sys.executable, None
    venv_dir = Path(venv)
    if not venv_dir.is_absolute():
        venv_dir = Path(info.root_directory or ".") / venv_dir
    python = venv_dir / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(
            f"The 'virtualenv' option in Pulumi.yaml is set to {venv!r}, but {python} does not exist. "
            "Run `make setup` to create it."
        )
    return str(python), str(venv_dir)


def exec_arguments(request: language_pb2.RunRequest, engine_address: str) -> list[str]:
    info = request.info
    args: list[str] = []

    def add(flag: str, value: str) -> None:
        if value:
            args.extend([f"--{flag}", value])

    add("monitor", request.monitor_address)
    add("engine", engine_address)
    add("project", request.project)
    add("stack", request.stack)
    add("pwd", request.pwd or info.program_directory)
    add("dry_run", "true" if request.dryRun else "false")
    add("parallel", str(request.parallel))
    add("organization", request.organization)
    add("root_directory", info.root_directory)
    args.append(request.program or info.entry_point or ".")
    args.extend(request.args)
    return args


def program_environment(request: language_pb2.RunRequest, venv_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    if venv_dir is not None:
        env["PULUMI_RUNTIME_VIRTUALENV"] = venv_dir
        env["PATH"] = f"{venv_dir}/bin{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
    return env


class PythonLanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str, exec_shim: str) -> None:
        self.engine_address = engine_address
        self.exec_shim = exec_shim

    def Handshake(self, request: Any, context: Any) -> language_pb2.LanguageHandshakeResponse:
        self.engine_address = request.engine_address or self.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=importlib.metadata.version("pulumi"))

    def GetRequiredPlugins(self, request: Any, context: Any) -> language_pb2.GetRequiredPluginsResponse:
        # Dynamic providers need no downloaded plugin; the engine finds pulumi-resource-pulumi-python on PATH.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> language_pb2.GetRequiredPackagesResponse:
        return language_pb2.GetRequiredPackagesResponse()

    def InstallDependencies(self, request: Any, context: Any) -> Any:
        # `make setup` owns the virtualenv; nothing to install here.
        return iter(())

    def About(self, request: Any, context: Any) -> language_pb2.AboutResponse:
        python, _ = virtualenv_python(request.info)
        version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.split()[-1]
        return language_pb2.AboutResponse(executable=python, version=version)

    def GetProgramDependencies(
        self, request: Any, context: Any
    ) -> language_pb2.GetProgramDependenciesResponse:
        return language_pb2.GetProgramDependenciesResponse()

    def Cancel(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def Run(self, request: language_pb2.RunRequest, context: Any) -> language_pb2.RunResponse:
        try:
            python, venv_dir = virtualenv_python(request.info)
        except FileNotFoundError as error:
            return language_pb2.RunResponse(error=str(error))
        command = [python, "-u", self.exec_shim, *exec_arguments(request, self.engine_address)]
        completed = subprocess.run(command, env=program_environment(request, venv_dir))
        if completed.returncode == 0:
            return language_pb2.RunResponse()
        if completed.returncode == EXITED_AFTER_SHOWING_MESSAGE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(
            error=f"Program exited with non-zero exit code: {completed.returncode}"
        )


def parse_arguments(argv: list[str]) -> tuple[str, str | None]:
    """Returns (engine address, executor); other engine flags such as -tracing are accepted and ignored."""
    executor: str | None = None
    positional: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg.lstrip("-") == "use-executor":
            executor = next(rest, None)
        elif arg.lstrip("-").startswith("use-executor="):
            executor = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            positional.append(arg)
    return (positional[-1] if positional else ""), executor


def main(argv: list[str]) -> None:
    engine_address, executor = parse_arguments(argv)
    host = PythonLanguageHost(engine_address, find_exec_shim(executor))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        # The engine ends its language host with an interrupt; that is a normal shutdown, not an error.
        server.stop(grace=None)


if __name__ == "__main__":
    main(sys.argv[1:])
