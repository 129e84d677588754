"""The platform database's schema: the simulated invoice-finance company's transactional system.

Every table has an integer primary key ``id`` and ``created_at`` / ``updated_at`` timestamps
(UTC, naive). ``updated_at`` moves whenever a row changes, which is what incremental
extraction keys on.
"""

import pyarrow as pa
import sqlalchemy as sa

from lakehouse.sources.sql.types import arrow_type

metadata = sa.MetaData()


def _table(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        *columns,
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    )


companies = _table(
    "companies",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(10), nullable=False),  # seller | debtor
    sa.Column("sector", sa.String(40), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("registration_number", sa.String(20), nullable=False),
)

investors = _table(
    "investors",
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # fund | bank | family_office
)

applications = _table(
    "applications",
    sa.Column("seller_id", sa.BigInteger, sa.ForeignKey("companies.id"), nullable=False),
    sa.Column("requested_amount", sa.Numeric(14, 2), nullable=False),
    # submitted -> approved | declined
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("submitted_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
)

invoices = _table(
    "invoices",
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("seller_id", sa.BigInteger, sa.ForeignKey("companies.id"), nullable=False),
    sa.Column("debtor_id", sa.BigInteger, sa.ForeignKey("companies.id"), nullable=False),
    sa.Column("face_value", sa.Numeric(14, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    # uploaded -> funded | rejected
    sa.Column("status", sa.String(12), nullable=False),
)

underwriter_decisions = _table(
    "underwriter_decisions",
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("underwriter", sa.String(60), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),  # approved | declined
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
)

trades = _table(
    "trades",
    sa.Column("invoice_id", sa.BigInteger, sa.ForeignKey("invoices.id"), nullable=False),
    sa.Column("advance_amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("fee_rate", sa.Numeric(6, 4), nullable=False),
    # live -> repaid | defaulted
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("funded_at", sa.DateTime, nullable=False),
    sa.Column("settled_at", sa.DateTime),
)

trade_allocations = _table(
    "trade_allocations",
    sa.Column("trade_id", sa.BigInteger, sa.ForeignKey("trades.id"), nullable=False),
    sa.Column("investor_id", sa.BigInteger, sa.ForeignKey("investors.id"), nullable=False),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
)

payments = _table(
    "payments",
    sa.Column("trade_id", sa.BigInteger, sa.ForeignKey("trades.id"), nullable=False),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("paid_at", sa.DateTime, nullable=False),
    sa.Column("days_late", sa.Integer, nullable=False),
)

TABLES: dict[str, sa.Table] = dict(metadata.tables)

COMMENTS = {  # column comments: a database that keeps them (PostgreSQL) passes them to the lake
    "*": {
        "id": "Row id, allocated in order, never reused.",
        "created_at": "When the row was created (UTC).",
        "updated_at": "When the row last changed (UTC); the extraction cursor.",
    },
    "companies": {
        "name": "Company name.",
        "role": "seller (an SME selling invoices) or debtor (its customer).",
        "sector": "Business sector.",
        "country": "ISO 3166 country code.",
        "registration_number": "Company registry number.",
    },
    "investors": {"name": "Investor name.", "kind": "fund, bank or family_office."},
    "applications": {
        "seller_id": "The selling company (companies.id).",
        "requested_amount": "Sum of the application's invoices' face values.",
        "status": "submitted, then approved or declined.",
        "submitted_at": "When the seller submitted it (UTC).",
        "decided_at": "When an underwriter decided it (UTC); null while submitted.",
    },
    "invoices": {
        "application_id": "The application carrying it.",
        "seller_id": "The issuing company.",
        "debtor_id": "The company that owes it.",
        "face_value": "Amount due, in the invoice's currency.",
        "currency": "ISO 4217 currency of the amounts (GBP or EUR).",
        "issue_date": "Date issued.",
        "due_date": "Date payment is due.",
        "status": "uploaded, then funded or rejected.",
    },
    "underwriter_decisions": {
        "application_id": "The decided application.",
        "underwriter": "Who decided.",
        "decision": "approved or declined.",
        "reason": "The underwriter's reason.",
        "decided_at": "When (UTC).",
    },
    "trades": {
        "invoice_id": "The funded invoice.",
        "advance_amount": "Amount advanced to the seller, in the invoice's currency.",
        "fee_rate": "Fee as a fraction of the face value.",
        "status": "live, then repaid or defaulted.",
        "funded_at": "When funded (UTC).",
        "settled_at": "When repaid or defaulted (UTC); null while live.",
    },
    "trade_allocations": {
        "trade_id": "The trade.",
        "investor_id": "The investor funding this part.",
        "amount": "This investor's part of the advance.",
    },
    "payments": {
        "trade_id": "The trade paid.",
        "amount": "Amount paid, in the invoice's currency.",
        "paid_at": "When paid (UTC).",
        "days_late": "Days after the due date (0 if on time).",
    },
}
for _name, _table_def in TABLES.items():
    for _column, _comment in {**COMMENTS["*"], **COMMENTS[_name]}.items():
        _table_def.c[_column].comment = _comment


def arrow_schema(table: str) -> pa.Schema:
    """The lake schema the SQL source gives a platform table (for tests and fixtures)."""
    return pa.schema(
        pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in TABLES[table].columns
    )
