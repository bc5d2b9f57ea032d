"""CloudFormation template reading: YAML with short tags, and the intrinsic functions resolved to local values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve."""


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}`` and ``!Sub s`` into ``{"Fn::Sub": s}``."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            logical_id, _, attribute = str(value).partition(".")
            value = [logical_id, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TemplateError(f"unsupported YAML node for !{suffix}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    """The template as plain data, short tags expanded to their long ``Fn::`` forms."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return data


@dataclass
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` of one resource give."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Resolves intrinsic functions against parameter values, pseudo parameters and physical resources."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        physical: Mapping[str, Physical],
    ) -> None:
        self.parameters = parameters
        self.pseudo = pseudo
        self.physical = physical

    def resolve(self, value: Any, where: str = "") -> Any:
        if isinstance(value, list):
            return [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self._ref(str(arg), where)
            if key == "Fn::GetAtt":
                return self._get_att(arg, where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::Join":
                separator, items = self.resolve(arg, where)
                return str(separator).join(str(item) for item in items)
            if key == "Fn::Select":
                index, items = self.resolve(arg, where)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg, where)
                return str(text).split(str(separator))
            if key.startswith("Fn::"):
                raise TemplateError(f"{where}: {key} is not supported by the local stack")
        return {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}

    def _ref(self, name: str, where: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise TemplateError(f"{where}: Ref to unknown {name!r}")

    def _get_att(self, arg: Any, where: str) -> Any:
        resolved = self.resolve(arg, where)
        if isinstance(resolved, str):
            resolved = resolved.split(".", 1)
        logical_id, attribute = resolved
        physical = self.physical.get(logical_id)
        if physical is None or attribute not in physical.attributes:
            raise TemplateError(f"{where}: Fn::GetAtt {logical_id}.{attribute} has no local value")
        return physical.attributes[attribute]

    def _sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1], where)
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_text(variables[name])
            if "." in name and name.split(".", 1)[0] in self.physical:
                return _as_text(self._get_att(name.split(".", 1), where))
            return _as_text(self._ref(name, where))

        return _SUB_VARIABLE.sub(replace, str(text))


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)
