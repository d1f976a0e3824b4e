"""S1/S2/R9 at settings-save time: one check of a type's whole settings item, so the CLI and the
settings loader report a bad item with a clear message before anything is written or synced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from activity_sync.domain import Direction, HubSpotActivityType, SyncType, TypeSettings
from activity_sync.rules.subjects import validate_subject_overrides
from activity_sync.rules.task_type import validate_task_type


class TypeSettingsError(ValueError):
    """Raised for a settings item that cannot be saved as it is."""


def validate_type_settings(
    sync_type: SyncType, settings: TypeSettings, active_task_types: Iterable[str] = ()
) -> TypeSettings:
    """The settings to store: the Task Type spelled as in the org's picklist (S2), subject overrides
    checked (R9). Task Types and subjects exist for HubSpot->Salesforce types only.

    Raises TaskTypeError / SubjectTemplateError (both ValueErrors) or TypeSettingsError."""
    if sync_type.direction is Direction.SALESFORCE_TO_HUBSPOT:
        if (
            settings.task_type is not None
            or settings.subject_template is not None
            or settings.email_subject_templates
        ):
            raise TypeSettingsError(
                f"{sync_type.key} creates HubSpot activities: a Salesforce Task Type or a subject "
                "template does not apply to it"
            )
        return settings
    activity_type = HubSpotActivityType(sync_type.type)
    validate_subject_overrides(activity_type, settings)
    return replace(settings, task_type=validate_task_type(settings.task_type, active_task_types))
