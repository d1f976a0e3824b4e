"""The org's metadata: objects, their fields, picklists and custom fields, and the describe
documents built from them.

Field names are case-insensitive everywhere in the REST API, so lookups go through a lower-case
index while responses use each field's canonical spelling.

Picklist behaviour: ``Task.Status``, ``Task.Priority``, ``Task.TaskSubtype``, ``Task.CallType``,
``Event.EventSubtype``, ``Lead.Status`` and ``Opportunity.StageName`` are *restricted* (a value
outside the list fails with ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``), as Salesforce enforces
for these system picklists. ``Task.Type`` / ``Event.Type`` and other standard picklists are
*unrestricted*, as in most orgs: any value is stored. Both the values and the restriction can be
changed per org through the seed (``picklists``) or ``POST /_sandbox/picklists``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from activity_sync_tools.sandbox.salesforce.errors import SalesforceError
from activity_sync_tools.sandbox.salesforce.values import NUMBER_TYPES, TEXT_FIELD_TYPES, Value

EXTERNAL_ID_FIELD = "HubSpot_Activity_Id__c"

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
FIELD_TYPES = TEXT_FIELD_TYPES | NUMBER_TYPES | {"id", "reference", "boolean", "int", "date", "datetime"}


@dataclass
class PicklistValue:
    value: str
    label: str
    active: bool = True
    default: bool = False
    closed: bool = False  # for Task.Status: whether this status closes the task (IsClosed)
    won: bool = False  # for Opportunity.StageName

    def describe(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "defaultValue": self.default,
            "label": self.label,
            "validFor": None,
            "value": self.value,
        }


# Kept apart from the HubSpot sandbox's PropertyDefinition it resembles: each is its vendor's field metadata.
@dataclass
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    default_value: Value = None
    picklist: list[PicklistValue] | None = None
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    custom: bool = False
    accessible: bool = True
    name_field: bool = False
    calculated: bool = False

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {self.type!r}")
        if not self.label:
            self.label = self.name.removesuffix("__c").replace("_", " ")
        if self.type in ("string", "email", "phone", "url", "picklist", "combobox") and not self.length:
            self.length = 255
        if self.type == "textarea" and not self.length:
            self.length = 32000

    @property
    def required(self) -> bool:
        """Salesforce's notion: must be given on create (describe: nillable false, createable,
        not defaulted)."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    def picklist_default(self) -> str | None:
        for entry in self.picklist or []:
            if entry.default and entry.active:
                return entry.value
        return None

    def picklist_entry(self, value: str) -> PicklistValue | None:
        for entry in self.picklist or []:
            if entry.value == value and entry.active:
                return entry
        return None

    def describe(self) -> dict[str, Any]:
        is_text = self.type not in _SOAP_TYPES
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length if is_text or self.type in ("id", "reference") else 0,
            "byteLength": self.length * 3 if is_text else 18 if self.type in ("id", "reference") else 0,
            "digits": 9 if self.type == "int" else 0,
            "precision": 18 if self.type in ("double", "currency", "percent") else 0,
            "scale": 2 if self.type in ("currency", "percent") else 0,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultedOnCreate": self.defaulted_on_create,
            "defaultValue": self.default_value
            if isinstance(self.default_value, bool | int | float)
            else None,
            "custom": self.custom,
            "calculated": self.calculated,
            "externalId": self.external_id,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "idLookup": self.type == "id" or self.external_id or self.name == "Username",
            "nameField": self.name_field,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "currency", "percent", "datetime"),
            "autoNumber": False,
            "picklistValues": [entry.describe() for entry in self.picklist or []],
            "restrictedPicklist": self.restricted,
            "dependentPicklist": False,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "cascadeDelete": False,
            "htmlFormatted": False,
            "deprecatedAndHidden": False,
        }


@dataclass
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # by lower-case name, in order

    def add(self, definition: FieldDef) -> None:
        self.fields[definition.name.lower()] = definition

    def get(self, name: str) -> FieldDef | None:
        """A field the caller can see (field-level security hides inaccessible ones)."""
        definition = self.fields.get(name.lower())
        if definition is None or not definition.accessible:
            return None
        return definition

    def require(self, name: str) -> FieldDef:
        definition = self.get(name)
        if definition is None:
            raise SalesforceError(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {self.name}", 400
            )
        return definition

    def visible_fields(self) -> list[FieldDef]:
        return [definition for definition in self.fields.values() if definition.accessible]

    def relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        for definition in self.visible_fields():
            if definition.relationship_name and definition.relationship_name.lower() == lowered:
                return definition
        return None

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/{version}/sobjects/{self.name}"
        return {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        }

    def summary(self, version: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "customSetting": False,
            "createable": True,
            "updateable": True,
            "deletable": self.name != "User",
            "undeletable": self.name != "User",
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "replicateable": True,
            "layoutable": True,
            "mergeable": self.name in ("Account", "Contact", "Lead"),
            "activateable": False,
            "feedEnabled": False,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        document = self.summary(version)
        document["fields"] = [definition.describe() for definition in self.visible_fields()]
        document["childRelationships"] = []
        document["recordTypeInfos"] = []
        document["supportedScopes"] = [{"label": "All", "name": "everything"}]
        return document


def _picklist(
    values: Iterable[str], default: str | None = None, closed: Iterable[str] = ()
) -> list[PicklistValue]:
    closed_values = set(closed)
    return [
        PicklistValue(value=value, label=value, default=value == default, closed=value in closed_values)
        for value in values
    ]


def _read_only(name: str, type_: str, **kwargs: Any) -> FieldDef:
    kwargs.setdefault("nillable", True)
    return FieldDef(name, type_, createable=False, updateable=False, **kwargs)


def _checkbox(name: str, label: str, *, default: bool = False) -> FieldDef:
    """A boolean field: never null, ``default`` unless given."""
    return FieldDef(
        name, "boolean", label=label, nillable=False, defaulted_on_create=True, default_value=default
    )


def _system_checkbox(name: str, label: str) -> FieldDef:
    """A boolean Salesforce maintains (IsDeleted, IsClosed, ...)."""
    return _read_only(name, "boolean", label=label, nillable=False, defaulted_on_create=True)


def _system_picklist(
    name: str, label: str, values: list[str], default: str, *, closed: Iterable[str] = ()
) -> FieldDef:
    """A restricted picklist Salesforce fills with ``default`` when a create leaves it out."""
    return FieldDef(
        name,
        "picklist",
        label=label,
        nillable=False,
        defaulted_on_create=True,
        restricted=True,
        picklist=_picklist(values, default, closed),
    )


def _subject_field(values: list[str]) -> FieldDef:
    """An activity's Subject: a combobox whose suggestions depend on the object."""
    return FieldDef("Subject", "combobox", label="Subject", length=255, picklist=_picklist(values))


def _reference(
    name: str, label: str, to: tuple[str, ...], relationship: str, *, read_only: bool = False, **kwargs: Any
) -> FieldDef:
    """A lookup to ``to`` (an 18-character id), reached in SOQL through ``relationship``."""
    return FieldDef(
        name,
        "reference",
        label=label,
        length=18,
        reference_to=to,
        relationship_name=relationship,
        createable=not read_only,
        updateable=not read_only,
        **kwargs,
    )


def _system_fields(*, owner: bool = True, deletable: bool = True) -> list[FieldDef]:
    fields = [
        FieldDef(
            "Id",
            "id",
            label="Record ID",
            length=18,
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
    ]
    if deletable:
        fields.append(_system_checkbox("IsDeleted", "Deleted"))
    if owner:
        fields.append(
            _reference("OwnerId", "Owner ID", ("User",), "Owner", nillable=False, defaulted_on_create=True)
        )
    fields += [
        _system_timestamp("CreatedDate", "Created Date"),
        _system_reference("CreatedById", "Created By ID", "CreatedBy"),
        _system_timestamp("LastModifiedDate", "Last Modified Date"),
        _system_reference("LastModifiedById", "Last Modified By ID", "LastModifiedBy"),
        _system_timestamp("SystemModstamp", "System Modstamp"),
    ]
    return fields


def _system_timestamp(name: str, label: str) -> FieldDef:
    return _read_only(name, "datetime", label=label, nillable=False, defaulted_on_create=True)


def _system_reference(name: str, label: str, relationship: str) -> FieldDef:
    """The user Salesforce records as having created or last changed a record."""
    return _reference(
        name, label, ("User",), relationship, read_only=True, nillable=False, defaulted_on_create=True
    )


def _person_name_fields() -> list[FieldDef]:
    return [
        FieldDef("FirstName", "string", label="First Name", length=40),
        FieldDef("LastName", "string", label="Last Name", length=80, nillable=False),
        _read_only("Name", "string", label="Full Name", length=121, name_field=True),
    ]


def _prospect_fields(*, phone_label: str) -> list[FieldDef]:
    """The person fields Contact and Lead share (converting a Lead carries them to its Contact)."""
    return [
        *_person_name_fields(),
        FieldDef("Email", "email", label="Email", length=80),
        FieldDef("Phone", "phone", label=phone_label, length=40),
        FieldDef("Title", "string", label="Title", length=128),
    ]


def _external_id_field() -> FieldDef:
    return FieldDef(
        EXTERNAL_ID_FIELD,
        "string",
        label="HubSpot Activity Id",
        length=255,
        external_id=True,
        unique=True,
        custom=True,
    )


def _activity_fields(subtype_field: str, subtype_values: list[str], subtype_default: str) -> list[FieldDef]:
    return [
        _reference("WhoId", "Name ID", ("Contact", "Lead"), "Who"),
        _reference("WhatId", "Related To ID", ("Account", "Opportunity"), "What"),
        _reference("AccountId", "Account ID", ("Account",), "Account", read_only=True),
        FieldDef("Description", "textarea", label="Description", length=32000),
        FieldDef(
            subtype_field,
            "picklist",
            label=subtype_field.replace("Subtype", " Subtype"),
            updateable=False,
            defaulted_on_create=True,
            picklist=_picklist(subtype_values, subtype_default),
            restricted=True,
        ),
        _system_checkbox("IsArchived", "Archived"),
    ]


def default_objects() -> dict[str, ObjectDef]:
    """The standard objects the service reads and writes, with the default custom fields."""
    user = ObjectDef("User", "User", "Users", "005")
    for definition in [
        *_system_fields(owner=False, deletable=False),
        FieldDef("Username", "string", label="Username", length=80, nillable=False, unique=True),
        FieldDef("Email", "email", label="Email", length=128, nillable=False),
        *_person_name_fields(),
        FieldDef("Alias", "string", label="Alias", length=8, nillable=False, defaulted_on_create=True),
        _checkbox("IsActive", "Active", default=True),
        FieldDef("Title", "string", label="Title", length=80),
    ]:
        user.add(definition)

    account = ObjectDef("Account", "Account", "Accounts", "001")
    for definition in [
        *_system_fields(),
        FieldDef("Name", "string", label="Account Name", length=255, nillable=False, name_field=True),
        FieldDef("Website", "url", label="Website"),
        FieldDef("Phone", "phone", label="Account Phone", length=40),
        FieldDef(
            "Industry",
            "picklist",
            label="Industry",
            picklist=_picklist(["Agriculture", "Banking", "Consulting", "Education", "Technology", "Other"]),
        ),
    ]:
        account.add(definition)

    contact = ObjectDef("Contact", "Contact", "Contacts", "003")
    for definition in [
        *_system_fields(),
        *_prospect_fields(phone_label="Business Phone"),
        _reference("AccountId", "Account ID", ("Account",), "Account"),
    ]:
        contact.add(definition)

    lead = ObjectDef("Lead", "Lead", "Leads", "00Q")
    for definition in [
        *_system_fields(),
        *_prospect_fields(phone_label="Phone"),
        FieldDef("Company", "string", label="Company", length=255, nillable=False),
        _system_picklist(
            "Status",
            "Lead Status",
            ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"],
            "Open - Not Contacted",
        ),
        _system_checkbox("IsConverted", "Converted"),
        _reference(
            "ConvertedContactId", "Converted Contact ID", ("Contact",), "ConvertedContact", read_only=True
        ),
        _reference(
            "ConvertedAccountId", "Converted Account ID", ("Account",), "ConvertedAccount", read_only=True
        ),
        _read_only("ConvertedDate", "date", label="Converted Date"),
    ]:
        lead.add(definition)

    opportunity = ObjectDef("Opportunity", "Opportunity", "Opportunities", "006")
    stages = [
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ]
    stage_values = _picklist(stages, closed=["Closed Won", "Closed Lost"])
    for entry in stage_values:
        entry.won = entry.value == "Closed Won"
    for definition in [
        *_system_fields(),
        FieldDef("Name", "string", label="Name", length=120, nillable=False, name_field=True),
        _reference("AccountId", "Account ID", ("Account",), "Account"),
        FieldDef(
            "StageName", "picklist", label="Stage", nillable=False, restricted=True, picklist=stage_values
        ),
        FieldDef("CloseDate", "date", label="Close Date", nillable=False),
        FieldDef("Amount", "currency", label="Amount"),
        _system_checkbox("IsClosed", "Closed"),
        _system_checkbox("IsWon", "Won"),
    ]:
        opportunity.add(definition)

    task = ObjectDef("Task", "Task", "Tasks", "00T")
    for definition in [
        *_system_fields(),
        _subject_field(["Call", "Send Letter", "Send Quote", "Other"]),
        FieldDef("ActivityDate", "date", label="Due Date Only"),
        _system_picklist(
            "Status",
            "Status",
            ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
            "Not Started",
            closed=["Completed"],
        ),
        _system_picklist("Priority", "Priority", ["High", "Normal", "Low"], "Normal"),
        _system_checkbox("IsHighPriority", "High Priority"),
        FieldDef(
            "Type",
            "picklist",
            label="Type",
            picklist=_picklist(["Call", "Email", "Send Letter", "Send Quote", "Other"]),
        ),
        *_activity_fields(
            "TaskSubtype", ["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"], "Task"
        ),
        _system_checkbox("IsClosed", "Closed"),
        _read_only("CompletedDateTime", "datetime", label="Completed Date/Time"),
        FieldDef("CallDurationInSeconds", "int", label="Call Duration"),
        FieldDef(
            "CallType",
            "picklist",
            label="Call Type",
            restricted=True,
            picklist=_picklist(["Inbound", "Internal", "Outbound"]),
        ),
        FieldDef("CallDisposition", "string", label="Call Result", length=255),
        FieldDef("CallObject", "string", label="Call Object Identifier", length=255),
        _checkbox("IsReminderSet", "Reminder Set"),
        _external_id_field(),
    ]:
        task.add(definition)

    event = ObjectDef("Event", "Event", "Events", "00U")
    for definition in [
        *_system_fields(),
        _subject_field(["Call", "Email", "Meeting", "Send Letter/Quote", "Other"]),
        FieldDef("Location", "string", label="Location", length=255),
        _checkbox("IsAllDayEvent", "All-Day Event"),
        FieldDef("ActivityDateTime", "datetime", label="Due Date Time"),
        FieldDef("ActivityDate", "date", label="Due Date Only"),
        FieldDef("DurationInMinutes", "int", label="Duration"),
        FieldDef("StartDateTime", "datetime", label="Start Date Time"),
        FieldDef("EndDateTime", "datetime", label="End Date Time"),
        FieldDef("Type", "picklist", label="Type", picklist=_picklist(["Call", "Email", "Meeting", "Other"])),
        FieldDef(
            "ShowAs",
            "picklist",
            label="Show Time As",
            restricted=True,
            defaulted_on_create=True,
            picklist=_picklist(["Busy", "OutOfOffice", "Free"], "Busy"),
        ),
        _checkbox("IsPrivate", "Private"),
        *_activity_fields("EventSubtype", ["Event"], "Event"),
        _external_id_field(),
    ]:
        event.add(definition)

    # Who may do what: a permission set, and its assignment to a user (the integration user holds
    # the project's HubSpot_Activity_Sync_Integration, which grants the API).
    permission_set = ObjectDef("PermissionSet", "Permission Set", "Permission Sets", "0PS")
    for definition in [
        *_system_fields(owner=False),
        FieldDef("Name", "string", label="Name", length=80, nillable=False, unique=True),
        FieldDef("Label", "string", label="Label", length=80, nillable=False),
        _checkbox("IsOwnedByProfile", "Is Owned By Profile"),
        _checkbox("PermissionsApiEnabled", "API Enabled"),
    ]:
        permission_set.add(definition)
    assignment = ObjectDef(
        "PermissionSetAssignment", "Permission Set Assignment", "Permission Set Assignments", "0Pa"
    )
    for definition in [
        *_system_fields(owner=False),
        _reference("AssigneeId", "Assignee ID", ("User",), "Assignee", nillable=False),
        _reference(
            "PermissionSetId", "Permission Set ID", ("PermissionSet",), "PermissionSet", nillable=False
        ),
    ]:
        assignment.add(definition)

    return {
        obj.name: obj
        for obj in (user, account, contact, lead, opportunity, task, event, permission_set, assignment)
    }


class Schema:
    """The org's objects (a deep copy per sandbox: picklists and custom fields are per org)."""

    def __init__(self) -> None:
        self.objects = default_objects()
        self._by_lower = {name.lower(): obj for name, obj in self.objects.items()}
        self._by_prefix = {obj.key_prefix: obj for obj in self.objects.values()}

    def copy(self) -> Schema:
        return copy.deepcopy(self)

    def get(self, name: str) -> ObjectDef | None:
        return self._by_lower.get(name.lower())

    def require(self, name: str) -> ObjectDef:
        obj = self.get(name)
        if obj is None:
            raise SalesforceError(
                "NOT_FOUND",
                f"The requested resource does not exist: sObject type '{name}' is not supported.",
                404,
            )
        return obj

    def for_id(self, record_id: str) -> ObjectDef | None:
        return self._by_prefix.get(record_id[:3])

    def set_picklist(
        self,
        object_name: str,
        field_name: str,
        values: Iterable[str | dict[str, Any]],
        restricted: bool | None = None,
    ) -> FieldDef:
        obj = self.require(object_name)
        definition = obj.fields.get(field_name.lower())
        if definition is None or definition.type not in ("picklist", "combobox"):
            raise ValueError(f"{object_name}.{field_name} is not a picklist")
        entries: list[PicklistValue] = []
        for raw in values:
            if isinstance(raw, str):
                entries.append(PicklistValue(value=raw, label=raw))
            else:
                entries.append(
                    PicklistValue(
                        value=str(raw["value"]),
                        label=str(raw.get("label", raw["value"])),
                        active=bool(raw.get("active", True)),
                        default=bool(raw.get("default", raw.get("defaultValue", False))),
                        closed=bool(raw.get("closed", False)),
                        won=bool(raw.get("won", False)),
                    )
                )
        if not entries:
            raise ValueError("a picklist needs at least one value")
        if (
            definition.defaulted_on_create
            and definition.default_value is None
            and not any(e.default for e in entries)
        ):
            # Status-like fields always need a default; keep the old one if still present.
            old_default = definition.picklist_default()
            for entry in entries:
                if entry.value == old_default:
                    entry.default = True
            if not any(entry.default for entry in entries):
                entries[0].default = True
        definition.picklist = entries
        if restricted is not None:
            definition.restricted = restricted
        return definition

    def add_custom_field(self, object_name: str, spec: dict[str, Any]) -> FieldDef:
        obj = self.require(object_name)
        name = str(spec["name"])
        if not name.endswith("__c"):
            raise ValueError(f"custom field names end in __c: {name!r}")
        type_ = str(spec.get("type", "string")).lower()
        picklist = spec.get("picklist_values") or spec.get("picklistValues")
        definition = FieldDef(
            name,
            type_,
            label=str(spec.get("label", "")),
            length=int(spec.get("length", 0)),
            nillable=not bool(spec.get("required", False)),
            external_id=bool(spec.get("external_id", spec.get("externalId", False))),
            unique=bool(spec.get("unique", False)),
            case_sensitive=bool(spec.get("case_sensitive", spec.get("caseSensitive", False))),
            restricted=bool(spec.get("restricted", False)),
            reference_to=tuple(spec.get("reference_to", spec.get("referenceTo", ()))),
            relationship_name=(name[:-3] + "__r") if type_ == "reference" else None,
            custom=True,
        )
        if definition.type == "boolean":
            definition.nillable = False
            definition.defaulted_on_create = True
            definition.default_value = bool(spec.get("default", False))
        obj.add(definition)
        if picklist:
            self.set_picklist(object_name, name, picklist, definition.restricted)
        return definition

    def set_field_access(self, object_name: str, field_name: str, accessible: bool) -> FieldDef:
        obj = self.require(object_name)
        definition = obj.fields.get(field_name.lower())
        if definition is None:
            raise ValueError(f"no field {object_name}.{field_name}")
        if definition.name in ("Id",):
            raise ValueError("the Id field is always visible")
        definition.accessible = accessible
        return definition
