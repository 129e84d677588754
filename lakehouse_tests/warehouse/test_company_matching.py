"""Normalised company keys: how a typed lead or account finds its platform company."""

import pyarrow as pa

from lakehouse.warehouse.company_matching import (
    company_key,
    country_code,
    normalise_company_name,
    registration_key,
    with_company_keys,
)


def test_typed_names_normalise_to_the_registered_name():
    registered = company_key("Anchor Retail Group Ltd", "GB")
    assert registered == "GB:anchor retail group"
    for typed, country in [
        ("ANCHOR RETAIL GROUP LIMITED", "United Kingdom"),
        ("Anchor Retail Group", "UK"),
        ("anchor  retail group ltd.", "england"),
    ]:
        assert company_key(typed, country) == registered, typed
    assert company_key("Ancohr Retail Group Ltd", "GB") != registered  # a typo does not match
    assert company_key("Anchor Retail Group Ltd", "Germany") != registered  # nor another country
    assert company_key("Anchor Retail Group Ltd", None) is None


def test_legal_forms_accents_and_punctuation():
    assert normalise_company_name("Falcon Logistics Works B.V.") == "falcon logistics works"
    assert normalise_company_name("Falcon Logistics Works BV") == "falcon logistics works"
    assert normalise_company_name("Oak Systems G.m.b.H.") == "oak systems"
    assert normalise_company_name("Crème & Co S.L.") == "creme and"
    assert normalise_company_name("Limited") == "limited"  # never normalised away entirely
    assert country_code("The Netherlands") == "NL" and country_code("España") == "ES"
    assert country_code("Atlantis") is None


def test_registration_numbers_in_any_format():
    assert registration_key("GB12345678") == "GB12345678"
    assert registration_key("gb 1234 5678", "UK") == "GB12345678"
    assert registration_key("12345678", "United Kingdom") == "GB12345678"
    assert registration_key("12345678") == "12345678"  # no country: left as typed
    assert registration_key(" - ") is None and registration_key(None) is None


def test_keys_are_appended_as_columns_keeping_the_metadata():
    table = pa.table(
        {"company": ["Oak Works GmbH", None], "country": ["DE", "FR"], "reg": ["DE 1", None]}
    ).replace_schema_metadata({b"k": b"v"})
    keyed = with_company_keys(table, "company", "country", "reg")
    assert keyed.column("company_key").to_pylist() == ["DE:oak works", None]
    assert keyed.column("registration_key").to_pylist() == ["DE1", None]
    assert keyed.schema.metadata == {b"k": b"v"}
