"""Deployments: resource checks, BPMN parsing, versioning, message start subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import rejection
from .instances import Runtime
from .model import Element, ModelError, ProcessModel, parse_bpmn
from .records import DeploymentResult, ProcessDefinitionRecord, ProcessMetadata
from .state import ProcessDefinition

__all__ = ["BPMN_SUFFIXES", "deploy", "parse_resources"]

BPMN_SUFFIXES = (".bpmn", ".xml")


def parse_resources(
    resources: Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes, ProcessModel]]:
    """Validate every resource before anything is deployed (deployments are atomic)."""
    if not resources:
        raise rejection(
            "INVALID_ARGUMENT", "CREATE", "Expected to deploy at least one resource, but none given"
        )
    errors: list[str] = []
    parsed: list[tuple[str, bytes, ProcessModel]] = []
    seen: dict[str, str] = {}
    for name, content in resources:
        if not name.lower().endswith(BPMN_SUFFIXES):
            errors.append(
                f"'{name}': resource type is not supported; this engine deploys BPMN "
                "resources only (.bpmn, .xml)"
            )
            continue
        try:
            models = parse_bpmn(content)
        except ModelError as exc:
            details = "".join(
                f"\n- Element: {element}\n    - ERROR: {reason}" for element, reason in exc.problems
            )
            errors.append(f"'{name}':{details}")
            continue
        for model in models:
            if model.bpmn_process_id in seen:
                errors.append(
                    f"Duplicated process id in resources '{seen[model.bpmn_process_id]}' "
                    f"and '{name}'"
                )
            seen[model.bpmn_process_id] = name
            parsed.append((name, content, model))
    if errors:
        raise rejection(
            "INVALID_ARGUMENT",
            "CREATE",
            "Expected to deploy new resources, but encountered the following errors:\n"
            + "\n".join(errors),
        )
    return parsed


def _definition_record(definition: ProcessDefinition, is_latest: bool) -> ProcessDefinitionRecord:
    model = definition.model
    return ProcessDefinitionRecord(
        key=definition.key,
        bpmn_process_id=model.bpmn_process_id,
        name=model.name,
        version=definition.version,
        version_tag=model.version_tag,
        resource_name=definition.resource_name,
        tenant_id=definition.tenant_id,
        is_latest=is_latest,
        deployment_key=definition.deployment_key,
    )


def deploy(
    rt: Runtime, models: list[tuple[str, bytes, ProcessModel]], tenant_id: str
) -> DeploymentResult:
    """Register parsed processes: an unchanged resource keeps its latest version, a changed
    one becomes version + 1 and takes over the message start events of its process id."""
    now = rt.now()
    deployment_key = rt.next_key()
    processes: list[ProcessMetadata] = []
    for resource_name, content, model in models:
        versions = rt.versions.setdefault((tenant_id, model.bpmn_process_id), [])
        latest = versions[-1] if versions else None
        if (
            latest is not None
            and latest.model.checksum == model.checksum
            and latest.resource_name == resource_name
        ):
            definition = latest
        else:
            definition = ProcessDefinition(
                rt.next_key(),
                model,
                latest.version + 1 if latest else 1,
                resource_name,
                content.decode("utf-8", errors="replace"),
                tenant_id,
                deployment_key,
            )
            if latest is not None:
                rt.definition_table.put(latest.key, _definition_record(latest, False), now)
            versions.append(definition)
            rt.definitions[definition.key] = definition
            rt.definition_table.put(definition.key, _definition_record(definition, True), now)
            _update_start_events(rt, definition)
        processes.append(
            ProcessMetadata(
                model.bpmn_process_id,
                definition.version,
                definition.key,
                resource_name,
                tenant_id,
            )
        )
    rt.run()
    return DeploymentResult(deployment_key, tuple(processes), tenant_id)


def _update_start_events(rt: Runtime, definition: ProcessDefinition) -> None:
    """The latest version's message start events replace the previous version's."""
    process_id = definition.model.bpmn_process_id
    for (tenant, _), per_process in list(rt.start_events.items()):
        if tenant == definition.tenant_id:
            per_process.pop(process_id, None)
    for start in definition.model.message_start_events():
        assert start.message_name is not None
        name = str(start.message_name.evaluate({}))
        entry: tuple[ProcessDefinition, Element] = (definition, start)
        rt.start_events.setdefault((definition.tenant_id, name), {})[process_id] = entry
