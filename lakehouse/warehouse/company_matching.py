"""Normalised company keys: matching Salesforce leads and accounts to platform companies.

Sales reps type company names and countries freely ("ANCHOR RETAIL GROUP LIMITED",
"United Kingdom"); the platform holds the registered form ("Anchor Retail Group Ltd", "GB").
Two keys bridge them:

- ``registration_key``: the registration number, alphanumerics only, upper case, with the
  country code prefixed when it is missing (``"gb 1234 5678"``/``"12345678"`` + GB ->
  ``"GB12345678"``). Exact when present.
- ``company_key``: ``<ISO country>:<name>`` with the name case-folded, accents and
  punctuation removed, ``&`` -> ``and``, and trailing legal forms (Ltd, Limited, GmbH, SAS,
  B.V., S.L., ...) dropped: ``"GB:anchor retail group"``.

Match on ``registration_key`` first, then ``company_key``. Apply :func:`with_company_keys`
to both sides (platform ``companies`` too) so they use the same rules.
"""

import re
import unicodedata

import pyarrow as pa

LEGAL_FORMS = {
    "ltd", "limited", "plc", "llp", "lp", "inc", "incorporated", "llc", "corp", "co",
    "gmbh", "ag", "kg", "ug", "sas", "sa", "sarl", "sasu", "bv", "nv", "vof", "sl", "slu",
    "srl", "spa", "dac", "teoranta", "uc",
}  # fmt: skip
COUNTRIES = {
    "gb": "GB", "uk": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "de": "DE", "germany": "DE", "deutschland": "DE",
    "fr": "FR", "france": "FR",
    "ie": "IE", "ireland": "IE", "republic of ireland": "IE", "eire": "IE",
    "nl": "NL", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
    "es": "ES", "spain": "ES", "espana": "ES",
}  # fmt: skip


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def country_code(country: str | None) -> str | None:
    """An ISO 3166 alpha-2 code for a country as typed, or ``None`` if unknown."""
    if not country:
        return None
    return COUNTRIES.get(" ".join(re.sub(r"[^\w\s]", " ", _fold(country)).split()))


def normalise_company_name(name: str | None) -> str | None:
    if not name:
        return None
    text = _fold(name).replace("&", " and ")
    text = re.sub(r"(?<=\b\w)\.(?=\w\b)", "", text)  # "b.v." -> "bv.", "s.l." -> "sl."
    words = re.sub(r"[^\w\s]", " ", text).split()
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words) or None


def company_key(name: str | None, country: str | None) -> str | None:
    normalised, code = normalise_company_name(name), country_code(country)
    return f"{code}:{normalised}" if normalised and code else None


def registration_key(number: str | None, country: str | None = None) -> str | None:
    if not number:
        return None
    compact = re.sub(r"[^0-9A-Za-z]", "", number).upper()
    if not compact:
        return None
    code = country_code(country)
    return f"{code}{compact}" if compact[0].isdigit() and code else compact


def with_company_keys(
    table: pa.Table, name: str, country: str, registration: str | None = None
) -> pa.Table:
    """``table`` with ``company_key`` (and ``registration_key``) columns appended."""
    names, countries = table.column(name).to_pylist(), table.column(country).to_pylist()
    keys = [company_key(n, c) for n, c in zip(names, countries, strict=True)]
    metadata = table.schema.metadata
    out = table.append_column(pa.field("company_key", pa.string()), pa.array(keys, pa.string()))
    if registration is not None:
        numbers = table.column(registration).to_pylist()
        regs = [registration_key(r, c) for r, c in zip(numbers, countries, strict=True)]
        out = out.append_column(
            pa.field("registration_key", pa.string()), pa.array(regs, pa.string())
        )
    return out.replace_schema_metadata(metadata)
