"""What the sandbox knows about HubSpot's object model: the object types it serves, their default
properties (names, types, enumeration options, read-only ones) and HubSpot-defined association
types between them.

Names and type ids follow HubSpot's CRM docs and the reference notes
(``shared/reference/hubspot-api.md``). Where HubSpot does not say (default property group names of
engagements), the sandbox picks ``<singular>information`` like the documented
``contactinformation``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .errors import HubSpotError


@dataclass(frozen=True)
class ObjectType:
    name: str  # plural, as in /crm/v3/objects/calls
    singular: str
    type_id: str
    created_property: str
    modified_property: str
    default_read_properties: tuple[str, ...]
    is_engagement: bool = False
    legacy_webhook_name: str | None = None  # contact / company / deal: has contact.* style webhooks

    @property
    def group_name(self) -> str:
        return f"{self.singular}information"


_ENGAGEMENT_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")

CONTACTS = ObjectType(
    "contacts",
    "contact",
    "0-1",
    "createdate",
    "lastmodifieddate",
    ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    legacy_webhook_name="contact",
)
COMPANIES = ObjectType(
    "companies",
    "company",
    "0-2",
    "createdate",
    "hs_lastmodifieddate",
    ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    legacy_webhook_name="company",
)
DEALS = ObjectType(
    "deals",
    "deal",
    "0-3",
    "createdate",
    "hs_lastmodifieddate",
    (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    legacy_webhook_name="deal",
)
CALLS = ObjectType(
    "calls", "call", "0-48", "hs_createdate", "hs_lastmodifieddate", _ENGAGEMENT_DEFAULTS, True
)
EMAILS = ObjectType(
    "emails", "email", "0-49", "hs_createdate", "hs_lastmodifieddate", _ENGAGEMENT_DEFAULTS, True
)
MEETINGS = ObjectType(
    "meetings", "meeting", "0-47", "hs_createdate", "hs_lastmodifieddate", _ENGAGEMENT_DEFAULTS, True
)
NOTES = ObjectType(
    "notes", "note", "0-46", "hs_createdate", "hs_lastmodifieddate", _ENGAGEMENT_DEFAULTS, True
)
TASKS = ObjectType(
    "tasks", "task", "0-27", "hs_createdate", "hs_lastmodifieddate", _ENGAGEMENT_DEFAULTS, True
)

OBJECT_TYPES: tuple[ObjectType, ...] = (CONTACTS, COMPANIES, DEALS, CALLS, EMAILS, MEETINGS, NOTES, TASKS)

_BY_ALIAS: dict[str, ObjectType] = {}
for _type in OBJECT_TYPES:
    for _alias in (_type.name, _type.singular, _type.type_id):
        _BY_ALIAS[_alias] = _type
# A project's webhooks component names meetings by their object name (HubSpot's generic webhook docs).
_BY_ALIAS["meeting_event"] = MEETINGS


def resolve_object_type(name: str) -> ObjectType:
    """``calls``, ``call`` and ``0-48`` all name the call object, as in HubSpot's paths."""
    found = _BY_ALIAS.get(name.strip().lower())
    if found is None:
        raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    return found


def find_object_type(name: str) -> ObjectType | None:
    return _BY_ALIAS.get(name.strip().lower())


# -- properties -----------------------------------------------------------------------------------

PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)


@dataclass
class PropertyOption:
    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[PropertyOption] = field(default_factory=list)
    has_unique_value: bool = False
    hidden: bool = False
    hubspot_defined: bool = True
    read_only_value: bool = False
    calculated: bool = False
    external_options: bool = False
    referenced_object_type: str | None = None
    form_field: bool = False
    display_order: int = -1
    created_at: str = "2019-08-06T02:41:08.029Z"
    updated_at: str = "2019-08-06T02:41:08.029Z"
    archived: bool = False

    @property
    def option_values(self) -> set[str]:
        return {o.value for o in self.options}

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [o.to_api() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "formField": self.form_field,
            "archived": self.archived,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
        }
        if self.referenced_object_type:
            body["referencedObjectType"] = self.referenced_object_type
        return body


def _enum(values: tuple[str, ...]) -> list[PropertyOption]:
    return [PropertyOption(v.replace("_", " ").title(), v, i) for i, v in enumerate(values)]


# (name, type, read-only, enumeration values). Field types and labels are derived.
_Spec = tuple[str, str, bool, tuple[str, ...]]


def _s(name: str, kind: str = "string", read_only: bool = False, values: tuple[str, ...] = ()) -> _Spec:
    return (name, kind, read_only, values)


_OWNER = "hubspot_owner_id"
_COMMON_ENGAGEMENT: list[_Spec] = [
    _s("hs_timestamp", "datetime"),
    _s(_OWNER, "enumeration"),
    _s("hs_createdate", "datetime"),
    _s("hs_lastmodifieddate", "datetime", True),
    _s("hs_object_id", "number", True),
    _s("hs_attachment_ids"),
]


def _record_basics(modified_property: str) -> list[_Spec]:
    """The owner and the properties HubSpot keeps on every contact, company and deal."""
    return [
        _s(_OWNER, "enumeration"),
        _s("createdate", "datetime"),
        _s(modified_property, "datetime", True),
        _s("hs_object_id", "number", True),
    ]


# Each type lists HubSpot's own properties for it: runs alike in shape across types are other properties.
_DEFAULT_SPECS: dict[str, list[_Spec]] = {
    "contacts": [
        _s("email"),
        _s("firstname"),
        _s("lastname"),
        _s("phone"),
        _s("company"),
        _s("jobtitle"),
        _s(
            "lifecyclestage",
            "enumeration",
            values=(
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
                "evangelist",
                "other",
            ),
        ),
        *_record_basics("lastmodifieddate"),
        # Written by HubSpot's own Salesforce connector.
        _s("salesforcecontactid"),
        _s("salesforceleadid"),
        # Sales email tracking (contact side), calculated by HubSpot.
        _s("hs_sales_email_last_opened", "datetime", True),
        _s("hs_sales_email_last_clicked", "datetime", True),
        _s("hs_sales_email_last_replied", "datetime", True),
        # Marketing email engagement, calculated by HubSpot.
        _s("hs_email_last_email_name", read_only=True),
        _s("hs_email_last_send_date", "datetime", True),
        _s("hs_email_last_open_date", "datetime", True),
        _s("hs_email_last_click_date", "datetime", True),
        _s("hs_email_delivered", "number", True),
        _s("hs_email_open", "number", True),
        _s("hs_email_click", "number", True),
        _s("hs_email_bounce", "number", True),
        # Form conversions, calculated by HubSpot.
        _s("first_conversion_event_name", read_only=True),
        _s("first_conversion_date", "datetime", True),
        _s("recent_conversion_event_name", read_only=True),
        _s("recent_conversion_date", "datetime", True),
        _s("num_conversion_events", "number", True),
    ],
    "companies": [
        _s("name"),
        _s("domain"),
        *_record_basics("hs_lastmodifieddate"),
        _s("salesforceaccountid"),
    ],
    "deals": [
        _s("dealname"),
        _s("amount", "number"),
        _s("dealstage"),
        _s("pipeline"),
        _s("closedate", "datetime"),
        *_record_basics("hs_lastmodifieddate"),
        _s("salesforceopportunityid"),
    ],
    "calls": [
        *_COMMON_ENGAGEMENT,
        _s("hs_call_title"),
        _s("hs_call_body"),
        _s("hs_call_direction", "enumeration", values=("INBOUND", "OUTBOUND")),
        _s("hs_call_duration", "number"),
        _s(
            "hs_call_status",
            "enumeration",
            values=(
                "BUSY",
                "CALLING_CRM_USER",
                "CANCELED",
                "COMPLETED",
                "CONNECTING",
                "FAILED",
                "IN_PROGRESS",
                "MISSED",
                "NO_ANSWER",
                "QUEUED",
                "RINGING",
            ),
        ),
        _s("hs_call_disposition"),
        _s("hs_call_from_number"),
        _s("hs_call_to_number"),
        _s("hs_call_recording_url"),
    ],
    "emails": [
        *_COMMON_ENGAGEMENT,
        _s("hs_email_subject"),
        _s("hs_email_text"),
        _s("hs_email_html"),
        _s("hs_email_headers"),
        _s("hs_email_direction", "enumeration", values=("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")),
        _s("hs_email_status", "enumeration", values=("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")),
        _s("hs_email_thread_id"),
        # Populated from hs_email_headers (read-only in HubSpot).
        _s("hs_email_from_email", read_only=True),
        _s("hs_email_from_firstname", read_only=True),
        _s("hs_email_from_lastname", read_only=True),
        _s("hs_email_to_email", read_only=True),
        _s("hs_email_to_firstname", read_only=True),
        _s("hs_email_to_lastname", read_only=True),
        _s("hs_email_cc_email", read_only=True),
        _s("hs_email_bcc_email", read_only=True),
        # Tracking of a sent sales email, maintained by HubSpot.
        _s("hs_email_open_count", "number", True),
        _s("hs_email_click_count", "number", True),
        _s("hs_email_reply_count", "number", True),
    ],
    "meetings": [
        *_COMMON_ENGAGEMENT,
        _s("hs_meeting_title"),
        _s("hs_meeting_body"),
        _s("hs_internal_meeting_notes"),
        _s("hs_meeting_external_url"),
        _s("hs_meeting_location"),
        _s("hs_meeting_start_time", "datetime"),
        _s("hs_meeting_end_time", "datetime"),
        _s(
            "hs_meeting_outcome",
            "enumeration",
            values=("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"),
        ),
    ],
    "notes": [*_COMMON_ENGAGEMENT, _s("hs_note_body")],
    "tasks": [
        *_COMMON_ENGAGEMENT,
        _s("hs_task_subject"),
        _s("hs_task_body"),
        _s(
            "hs_task_status",
            "enumeration",
            values=("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        ),
        _s("hs_task_priority", "enumeration", values=("NONE", "LOW", "MEDIUM", "HIGH")),
        _s("hs_task_type", "enumeration", values=("EMAIL", "CALL", "TODO")),
        _s("hs_task_completion_date", "datetime", True),
        _s("hs_task_reminders"),
    ],
}

_FIELD_TYPE_FOR = {
    "string": "text",
    "number": "number",
    "datetime": "date",
    "date": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
    "phone_number": "phonenumber",
}


def default_properties(object_type: ObjectType) -> dict[str, PropertyDefinition]:
    """A fresh copy of the type's HubSpot-defined property definitions."""
    definitions: dict[str, PropertyDefinition] = {}
    for order, (name, kind, read_only, values) in enumerate(_DEFAULT_SPECS[object_type.name]):
        definition = PropertyDefinition(
            name=name,
            label=name.replace("hs_", "").replace("_", " ").capitalize(),
            type=kind,
            field_type=_FIELD_TYPE_FOR[kind],
            group_name=object_type.group_name,
            options=_enum(values),
            read_only_value=read_only,
            calculated=read_only and name not in ("hs_object_id", object_type.modified_property),
            display_order=order,
        )
        if name == _OWNER:
            definition.external_options = True
            definition.referenced_object_type = "OWNER"
        definitions[name] = definition
    definitions["hs_object_id"].has_unique_value = True
    if object_type is CONTACTS:
        definitions["email"].has_unique_value = True
    return definitions


def default_groups(object_type: ObjectType) -> dict[str, dict[str, Any]]:
    name = object_type.group_name
    return {
        name: {
            "name": name,
            "label": f"{object_type.singular.title()} information",
            "displayOrder": 0,
            "archived": False,
        }
    }


# -- associations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: ObjectType
    to_type: ObjectType
    label: str | None = None  # None for the unlabeled default, like HubSpot's v4 answers

    @property
    def v3_name(self) -> str:
        """The ``type`` in v3 ``associations`` answers: ``call_to_contact``; an unlabeled type that has a
        Primary sibling reads ``contact_to_company_unlabeled``."""
        name = f"{self.from_type.singular}_to_{self.to_type.singular}"
        return f"{name}_unlabeled" if self.type_id in _UNLABELED_BESIDE_PRIMARY else name


_UNLABELED_BESIDE_PRIMARY = frozenset({279, 280, 341, 342})


def _pairs() -> list[AssociationType]:
    pairs: list[AssociationType] = []

    def both(forward: int, backward: int, a: ObjectType, b: ObjectType, label: str | None = None) -> None:
        pairs.append(AssociationType(forward, a, b, label))
        pairs.append(AssociationType(backward, b, a, label))

    # HubSpot-defined ids (docs: "Associations v4", default association type ids).
    both(194, 193, CALLS, CONTACTS)
    both(198, 197, EMAILS, CONTACTS)
    both(200, 199, MEETINGS, CONTACTS)
    both(202, 201, NOTES, CONTACTS)
    both(204, 203, TASKS, CONTACTS)
    both(182, 181, CALLS, COMPANIES)
    both(186, 185, EMAILS, COMPANIES)
    both(188, 187, MEETINGS, COMPANIES)
    both(190, 189, NOTES, COMPANIES)
    both(192, 191, TASKS, COMPANIES)
    both(206, 205, CALLS, DEALS)
    both(210, 209, EMAILS, DEALS)
    both(212, 211, MEETINGS, DEALS)
    both(214, 213, NOTES, DEALS)
    both(216, 215, TASKS, DEALS)
    both(279, 280, CONTACTS, COMPANIES)
    both(1, 2, CONTACTS, COMPANIES, "Primary")
    both(4, 3, CONTACTS, DEALS)
    both(342, 341, COMPANIES, DEALS)
    both(6, 5, COMPANIES, DEALS, "Primary")
    return pairs


ASSOCIATION_TYPES: dict[int, AssociationType] = {a.type_id: a for a in _pairs()}


def association_from_spec(
    spec: Any, from_type: ObjectType, to_type: ObjectType | None = None
) -> AssociationType:
    """The HubSpot-defined type named by ``{"associationCategory", "associationTypeId"}``, checked
    against the objects it should connect."""
    type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
    category = spec.get("associationCategory") if isinstance(spec, dict) else None
    try:
        association = ASSOCIATION_TYPES.get(int(type_id)) if type_id is not None else None
    except (TypeError, ValueError):
        association = None
    if (
        category != "HUBSPOT_DEFINED"
        or association is None
        or association.from_type is not from_type
        or (to_type is not None and association.to_type is not to_type)
    ):
        target = f" to {to_type.name}" if to_type else ""
        raise HubSpotError(
            400,
            f"{category} association type {type_id} is not valid from {from_type.name}{target}",
            "VALIDATION_ERROR",
        )
    return association


def default_association_type(from_type: ObjectType, to_type: ObjectType) -> AssociationType | None:
    for association in ASSOCIATION_TYPES.values():
        if (
            association.from_type is from_type
            and association.to_type is to_type
            and association.label is None
        ):
            return association
    return None


def reverse_association_type(association: AssociationType) -> AssociationType:
    for candidate in ASSOCIATION_TYPES.values():
        if (
            candidate.from_type is association.to_type
            and candidate.to_type is association.from_type
            and candidate.label == association.label
        ):
            return candidate
    raise KeyError(association.type_id)


# -- timestamps -------------------------------------------------------------------------------------


def iso_ms(instant: dt.datetime) -> str:
    """HubSpot's timestamp format: ``2019-10-30T03:30:17.883Z``."""
    instant = instant.astimezone(dt.UTC)
    return f"{instant:%Y-%m-%dT%H:%M:%S}.{instant.microsecond // 1000:03d}Z"


def ms_to_iso(epoch_ms: int) -> str:
    return iso_ms(dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC))


def parse_instant(value: Any) -> int | None:
    """Epoch milliseconds from an ms number/string, an ISO instant or a ``YYYY-MM-DD`` date."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
