"""Nested applications for the local stack: ``AWS::Serverless::Application`` resources whose
``Location`` is a local template (``syncer.yaml``) are expanded in place, so that the rest of the
local runtime sees one flat template, as it did before the stack was split.

What CloudFormation does with a nested stack, done by rewriting the child's fragments:

* each child resource ``X`` of application ``App`` becomes ``AppX`` (``HubSpotNote`` + ``Queue`` ->
  ``HubSpotNoteQueue``), and every ``Ref``, ``GetAtt``, ``Sub`` variable, ``DependsOn`` and
  condition name inside the child follows it;
* a child parameter becomes the expression the parent passes for it (evaluated in the parent's
  namespace), or its ``Default``;
* the parent's ``GetAtt App.Outputs.Name`` (and ``${App.Outputs.Name}`` in ``Sub``) becomes the
  child's output expression;
* the child's own ``Globals`` apply to its own functions only (SAM's rule: Globals are per
  template), and relative ``CodeUri`` paths are re-based on the parent template's folder.

The child's stack name (``AWS::StackName`` inside it) is ``<parent stack>-<App>``, as
CloudFormation names nested stacks (minus the random suffix).
Reference: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-nested-applications.html
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from activity_sync_tools.local.template import (
    GLOBALS_APPLIED,
    TemplateError,
    load_template,
    merge_sam_globals,
)

APPLICATION = "AWS::Serverless::Application"
SAM_FUNCTION = "AWS::Serverless::Function"
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def load_stack_template(path: str | Path) -> dict[str, Any]:
    """The template at ``path`` with its local nested applications expanded: the whole stack as
    one template (what the local runtime runs and the template tests check)."""
    path = Path(path).resolve()
    return flatten_applications(load_template(path), path.parent)


def flatten_applications(template: dict[str, Any], template_dir: Path) -> dict[str, Any]:
    """``template`` with every local nested application expanded in place (recursively)."""
    flat = copy.deepcopy(template)
    resources: dict[str, Any] = flat.get("Resources") or {}
    applications = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource.get("Type") == APPLICATION and isinstance(_location(resource), str)
    }
    if not applications:
        return flat
    outputs: dict[str, dict[str, Any]] = {}
    expanded: dict[str, Any] = {}
    conditions: dict[str, Any] = dict(flat.get("Conditions") or {})
    mappings: dict[str, Any] = dict(flat.get("Mappings") or {})
    for logical_id, resource in resources.items():
        if logical_id not in applications:
            expanded[logical_id] = resource
            continue
        child_path = (template_dir / str(_location(resource))).resolve()
        if not child_path.is_file():
            raise TemplateError(f"{logical_id}: nested template {child_path} not found")
        child = flatten_applications(load_template(child_path), child_path.parent)
        child_resources, child_outputs, child_conditions, child_mappings = _expand_child(
            logical_id, resource, child, child_path.parent, template_dir
        )
        clash = set(child_resources) & (set(resources) | set(expanded))
        if clash:
            raise TemplateError(f"{logical_id}: expanded names clash with the parent's: {sorted(clash)}")
        expanded.update(child_resources)
        outputs[logical_id] = child_outputs
        conditions.update(child_conditions)
        mappings.update(child_mappings)
    flat["Resources"] = expanded
    if conditions:
        flat["Conditions"] = conditions
    if mappings:
        flat["Mappings"] = mappings
    # The parent's references to the children's outputs, wherever they are.
    for section in ("Resources", "Outputs", "Globals", "Conditions"):
        if section in flat:
            flat[section] = _replace_output_references(flat[section], outputs)
    return flat


def _location(resource: Mapping[str, Any]) -> Any:
    return (resource.get("Properties") or {}).get("Location")


def _expand_child(
    app_id: str,
    application: Mapping[str, Any],
    child: Mapping[str, Any],
    child_dir: Path,
    parent_dir: Path,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    passed: Mapping[str, Any] = (application.get("Properties") or {}).get("Parameters") or {}
    declared: Mapping[str, Any] = child.get("Parameters") or {}
    unknown = sorted(set(passed) - set(declared))
    if unknown:
        raise TemplateError(f"{app_id} passes {', '.join(unknown)}, which its template does not declare")
    arguments: dict[str, Any] = {}
    for name, declaration in declared.items():
        if name in passed:
            arguments[name] = copy.deepcopy(passed[name])
        elif "Default" in declaration:
            # Parameter values are text in CloudFormation, whatever YAML made of the default.
            default = declaration["Default"]
            arguments[name] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        else:
            raise TemplateError(f"{app_id}: nested parameter {name} has no value and no Default")
    child_resources: Mapping[str, Any] = child.get("Resources") or {}
    rename = _Renamer(
        app_id,
        arguments,
        resources=set(child_resources),
        conditions=set(child.get("Conditions") or {}),
        mappings=set(child.get("Mappings") or {}),
    )
    globals_function = dict((child.get("Globals") or {}).get("Function") or {})
    resources: dict[str, Any] = {}
    for child_id, resource in child_resources.items():
        renamed = rename.fragment(copy.deepcopy(resource))
        if "Condition" in renamed:
            renamed["Condition"] = app_id + str(renamed["Condition"])
        if "DependsOn" in renamed:
            depends = renamed["DependsOn"]
            renamed["DependsOn"] = (
                [app_id + str(d) for d in depends] if isinstance(depends, list) else app_id + str(depends)
            )
        if renamed.get("Type") == SAM_FUNCTION:
            properties = merge_sam_globals(rename.fragment(globals_function), renamed.get("Properties") or {})
            code_uri = properties.get("CodeUri")
            if isinstance(code_uri, str):
                properties["CodeUri"] = os.path.relpath(child_dir / code_uri, parent_dir) + "/"
            renamed["Properties"] = properties
            renamed.setdefault("Metadata", {})[GLOBALS_APPLIED] = True
        resources[app_id + child_id] = renamed
    outputs = {
        name: rename.fragment(copy.deepcopy(output.get("Value")))
        for name, output in (child.get("Outputs") or {}).items()
    }
    conditions = {
        app_id + name: rename.fragment(copy.deepcopy(value))
        for name, value in (child.get("Conditions") or {}).items()
    }
    mappings = {app_id + name: copy.deepcopy(value) for name, value in (child.get("Mappings") or {}).items()}
    return resources, outputs, conditions, mappings


class _Renamer:
    """Rewrites a child's fragment into the parent's namespace."""

    def __init__(
        self,
        app_id: str,
        arguments: Mapping[str, Any],
        *,
        resources: set[str],
        conditions: set[str],
        mappings: set[str],
    ) -> None:
        self.app_id = app_id
        self.arguments = arguments
        self.resources = resources
        self.conditions = conditions
        self.mappings = mappings

    def fragment(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.fragment(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            handler = self._intrinsics().get(key)
            if handler is not None:
                return handler(argument)
        return {key: self.fragment(value) for key, value in node.items()}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Condition": lambda name: {"Condition": self._condition(name)},
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
        }

    def _ref(self, name: Any) -> Any:
        name = str(name)
        if name in self.arguments:
            return copy.deepcopy(self.arguments[name])
        if name in self.resources:
            return {"Ref": self.app_id + name}
        if name == "AWS::StackName":
            return {"Fn::Sub": "${AWS::StackName}-" + self.app_id}
        return {"Ref": name}

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = (str(part) for part in argument)
        if logical_id in self.resources:
            logical_id = self.app_id + logical_id
        return {"Fn::GetAtt": [logical_id, attribute]}

    def _condition(self, name: Any) -> str:
        text = str(name)
        return self.app_id + text if text in self.conditions else text

    def _if(self, argument: Any) -> Any:
        condition, when_true, when_false = argument
        return {"Fn::If": [self._condition(condition), self.fragment(when_true), self.fragment(when_false)]}

    def _find_in_map(self, argument: Any) -> Any:
        map_name, *keys = argument
        if isinstance(map_name, str) and map_name in self.mappings:
            map_name = self.app_id + map_name
        return {"Fn::FindInMap": [map_name, *(self.fragment(k) for k in keys)]}

    def _sub(self, argument: Any) -> Any:
        if isinstance(argument, list):
            text, variables = argument
            variables = {key: self.fragment(value) for key, value in dict(variables).items()}
        else:
            text, variables = argument, {}
        extra: dict[str, Any] = {}

        def rewrite(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression in variables:
                return match.group(0)
            head, dot, attribute = expression.partition(".")
            if dot and head in self.resources:
                return "${" + self.app_id + head + "." + attribute + "}"
            if not dot and expression in self.resources:
                return "${" + self.app_id + expression + "}"
            if not dot and (expression in self.arguments or expression == "AWS::StackName"):
                placeholder = "Nested" + re.sub(r"\W", "", expression)
                extra[placeholder] = self._ref(expression)
                return "${" + placeholder + "}"
            return match.group(0)

        rewritten = _SUB_VARIABLE.sub(rewrite, str(text))
        merged = {**variables, **extra}
        return {"Fn::Sub": [rewritten, merged] if merged else rewritten}


def _replace_output_references(node: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(node, list):
        return [_replace_output_references(item, outputs) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, argument),) = node.items()
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                logical_id, _, attribute = argument.partition(".")
            else:
                logical_id, attribute = str(argument[0]), str(argument[1])
            if logical_id in outputs and attribute.startswith("Outputs."):
                return copy.deepcopy(_output(outputs, logical_id, attribute))
        if key == "Fn::Sub":
            return _sub_output_references(argument, outputs)
    return {key: _replace_output_references(value, outputs) for key, value in node.items()}


def _output(outputs: Mapping[str, Mapping[str, Any]], logical_id: str, attribute: str) -> Any:
    name = attribute.removeprefix("Outputs.")
    try:
        return outputs[logical_id][name]
    except KeyError:
        message = f"GetAtt {logical_id}.{attribute}: the nested template has no such output"
        raise TemplateError(message) from None


def _sub_output_references(argument: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(argument, list):
        text, variables = argument
        variables = {k: _replace_output_references(v, outputs) for k, v in dict(variables).items()}
    else:
        text, variables = argument, {}
    extra: dict[str, Any] = {}

    def rewrite(match: re.Match[str]) -> str:
        expression = match.group(1)
        logical_id, _, attribute = expression.partition(".")
        if logical_id in outputs and attribute.startswith("Outputs."):
            placeholder = "Output" + re.sub(r"\W", "", expression)
            extra[placeholder] = copy.deepcopy(_output(outputs, logical_id, attribute))
            return "${" + placeholder + "}"
        return match.group(0)

    rewritten = _SUB_VARIABLE.sub(rewrite, str(text))
    merged = {**variables, **extra}
    return {"Fn::Sub": [rewritten, merged] if merged else rewritten}
