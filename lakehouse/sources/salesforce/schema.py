"""The Salesforce objects extracted, their expected fields, and their lake schemas.

Each object lists the fields the lake expects: the Salesforce API name, the lake column
(snake_case, like the platform's tables) and its Arrow type. The SOQL query selects exactly
these fields, so a field that is renamed or removed in Salesforce fails the query
(``INVALID_FIELD``) and a record whose fields or value types differ from these is rejected:
both are reported as :class:`~lakehouse.sources.http.SchemaDrift` naming the object and field,
never written as a column of nulls.

Timestamps are naive UTC (``timestamp[us]``), like the platform's; currency amounts are
``decimal(18, 2)``. ``Registration_Number__c`` is a custom field on Lead and Account holding
the company registration number, which, with the company name and country, matches a lead
or account to the platform's ``companies`` (see :mod:`lakehouse.warehouse.company_matching`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from lakehouse.sources.http import SchemaDrift

TIMESTAMP = pa.timestamp("us")
AMOUNT = pa.decimal128(18, 2)
WATERMARK_FIELD = "SystemModstamp"


@dataclass(frozen=True)
class Field:
    api_name: str
    column: str
    type: pa.DataType
    nullable: bool = True


@dataclass(frozen=True)
class SObject:
    name: str  # the sObject's API name, e.g. "Lead"
    fields: tuple[Field, ...]
    description: str

    @property
    def key(self) -> str:
        """The object's name in asset keys and lake prefixes: ``lead``."""
        return self.name.lower()

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(pa.field(f.column, f.type, nullable=f.nullable) for f in self.fields)

    def soql(self, since: datetime | None = None) -> str:
        """The incremental query: every expected field, changed at or after ``since`` (UTC)."""
        query = f"SELECT {', '.join(f.api_name for f in self.fields)} FROM {self.name}"
        if since is not None:
            query += f" WHERE {WATERMARK_FIELD} >= {since:%Y-%m-%dT%H:%M:%SZ}"
        return query + f" ORDER BY {WATERMARK_FIELD} ASC, Id ASC"

    def to_table(self, records: Iterable[Mapping[str, Any]]) -> pa.Table:
        """Records as returned by the REST API -> an Arrow table of the lake schema.

        Raises :class:`SchemaDrift` when a record lacks an expected field, carries an
        unexpected one (a renamed field shows up as both), or a value has the wrong type.
        """
        expected = {f.api_name for f in self.fields}
        columns: dict[str, list] = {f.column: [] for f in self.fields}
        for record in records:
            present = set(record) - {"attributes"}
            if present != expected:
                raise SchemaDrift(self._fields_changed(expected - present, present - expected))
            for f in self.fields:
                columns[f.column].append(self._value(f, record[f.api_name]))
        return pa.table(columns, schema=self.arrow_schema)

    def _fields_changed(self, missing: set[str], unexpected: set[str]) -> str:
        parts = []
        if missing:
            parts.append(f"expected field(s) {', '.join(sorted(missing))} missing")
        if unexpected:
            parts.append(f"unexpected field(s) {', '.join(sorted(unexpected))}")
        hint = " (renamed?)" if missing and unexpected else ""
        return (
            f"Salesforce {self.name}: schema drift: {'; '.join(parts)}{hint}. Nothing was "
            f"written; update {self.name} in lakehouse/sources/salesforce/schema.py"
        )

    def _value(self, f: Field, value: Any) -> Any:
        if value is None:
            if not f.nullable:
                raise SchemaDrift(f"Salesforce {self.name}.{f.api_name}: null in a required field")
            return None
        try:
            return _convert(f.type, value)
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise SchemaDrift(
                f"Salesforce {self.name}.{f.api_name}: expected {f.type}, got "
                f"{type(value).__name__} {value!r}. Nothing was written; has the field's type "
                "changed?"
            ) from exc


def _convert(arrow_type: pa.DataType, value: Any) -> Any:
    if pa.types.is_string(arrow_type):
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    if pa.types.is_boolean(arrow_type):
        if not isinstance(value, bool):
            raise TypeError("not a boolean")
        return value
    if pa.types.is_timestamp(arrow_type):
        return parse_datetime(value)
    if pa.types.is_date(arrow_type):
        if not isinstance(value, str):
            raise TypeError("not a date string")
        return date.fromisoformat(value)
    if pa.types.is_decimal(arrow_type):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("not a number")
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-arrow_type.scale))
    if pa.types.is_floating(arrow_type):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("not a number")
        return float(value)
    raise TypeError(f"no conversion to {arrow_type}")


def parse_datetime(value: Any) -> datetime:
    """A Salesforce dateTime (``2026-03-01T10:00:00.000+0000``) as naive UTC."""
    if not isinstance(value, str):
        raise TypeError("not a dateTime string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("dateTime without a time zone")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def format_datetime(value: datetime) -> str:
    """Naive UTC -> the REST API's dateTime format (``2026-03-01T10:00:00.000+0000``)."""
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}+0000"


def _audit_fields() -> tuple[Field, ...]:
    return (
        Field("IsDeleted", "is_deleted", pa.bool_(), nullable=False),
        Field("CreatedDate", "created_date", TIMESTAMP, nullable=False),
        Field("LastModifiedDate", "last_modified_date", TIMESTAMP, nullable=False),
        Field(WATERMARK_FIELD, "system_modstamp", TIMESTAMP, nullable=False),
    )


LEAD = SObject(
    "Lead",
    (
        Field("Id", "id", pa.string(), nullable=False),
        Field("FirstName", "first_name", pa.string()),
        Field("LastName", "last_name", pa.string(), nullable=False),
        Field("Company", "company", pa.string(), nullable=False),
        Field("Email", "email", pa.string()),
        Field("Country", "country", pa.string()),
        Field("LeadSource", "lead_source", pa.string()),
        Field("Status", "status", pa.string(), nullable=False),
        Field("Registration_Number__c", "registration_number", pa.string()),
        Field("IsConverted", "is_converted", pa.bool_(), nullable=False),
        Field("ConvertedDate", "converted_date", pa.date32()),
        Field("ConvertedAccountId", "converted_account_id", pa.string()),
        Field("ConvertedOpportunityId", "converted_opportunity_id", pa.string()),
        *_audit_fields(),
    ),
    "Prospective sellers: company, country, registration number, source, status, conversion.",
)

ACCOUNT = SObject(
    "Account",
    (
        Field("Id", "id", pa.string(), nullable=False),
        Field("Name", "name", pa.string(), nullable=False),
        Field("Type", "type", pa.string()),
        Field("Industry", "industry", pa.string()),
        Field("BillingCountry", "billing_country", pa.string()),
        Field("AccountSource", "account_source", pa.string()),
        Field("Registration_Number__c", "registration_number", pa.string()),
        *_audit_fields(),
    ),
    "Companies the sales team works with (converted leads): name, country, registration number.",
)

OPPORTUNITY = SObject(
    "Opportunity",
    (
        Field("Id", "id", pa.string(), nullable=False),
        Field("Name", "name", pa.string(), nullable=False),
        Field("AccountId", "account_id", pa.string()),
        Field("StageName", "stage_name", pa.string(), nullable=False),
        Field("Amount", "amount", AMOUNT),
        Field("CloseDate", "close_date", pa.date32(), nullable=False),
        Field("IsClosed", "is_closed", pa.bool_(), nullable=False),
        Field("IsWon", "is_won", pa.bool_(), nullable=False),
        Field("LeadSource", "lead_source", pa.string()),
        *_audit_fields(),
    ),
    "Deals with accounts: stage, expected annual funding amount, close date, won or lost.",
)

OBJECTS: dict[str, SObject] = {o.key: o for o in (LEAD, ACCOUNT, OPPORTUNITY)}
