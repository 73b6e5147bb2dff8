"""The engine's floor: a Pulumi program of trivial echo resources in the shape of an orglink stack.

Run as a project's __main__.py beside `shape.json` (written by bench.floor from an orglink stack's
state): one component per component of that stack, one dynamic resource per resource, each with the
same parent, the same dependencies and the same number of properties, and as many stack outputs.
The echo provider answers every call from its inputs and talks to nothing, so what this stack costs
is what the Pulumi engine, the Python SDK and a dynamic provider cost for that shape.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic


class Echo(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=uuid.uuid4().hex, outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [k for k in news if olds.get(k) != news[k]]
        return pulumi.dynamic.DiffResult(changes=bool(changed))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        return pulumi.dynamic.ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


ECHO = Echo()


class EchoResource(pulumi.dynamic.Resource):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(ECHO, name, props, opts)


class EchoComponent(pulumi.ComponentResource):
    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__(type_, name, None, opts)


def main() -> None:
    shape = json.loads((Path(__file__).resolve().parent / "shape.json").read_text())
    made: dict[str, pulumi.Resource] = {}
    for index, spec in enumerate(shape["resources"]):
        parent = made.get(spec["parent"]) if spec["parent"] else None
        depends = [made[d] for d in spec["dependencies"] if d in made]
        opts = pulumi.ResourceOptions(parent=parent, depends_on=depends or None)
        name = f"{spec['name']}-{index}"
        if spec["custom"]:
            props = {f"p{i}": f"value {i} of {name}" for i in range(spec["properties"])}
            made[spec["urn"]] = EchoResource(name, props, opts)
        else:
            made[spec["urn"]] = EchoComponent(spec["type"], name, opts)
    for i in range(shape["outputs"]):
        pulumi.export(f"output_{i}", f"value {i}")


main()
