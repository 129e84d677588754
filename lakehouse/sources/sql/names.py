"""How database names become asset keys, view names and Parquet column names.

The rule: insert ``_`` where a lower-case letter or digit meets an upper-case one
(``InvoiceLine`` -> ``invoice_line``, ``HTTPStatus`` -> ``http_status``), turn every run of
other characters than letters and digits into one ``_``, lower-case, strip ``_`` at the ends.
Quoting does not matter (``"Order"`` -> ``order``); reserved words stay as they are (a column
``select`` is ``select`` in Parquet: readers quote it). The original name is kept in metadata.
"""

import re
from collections.abc import Iterable

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_OTHER = re.compile(r"[^0-9A-Za-z]+")


def snake(name: str) -> str:
    """The lake name of a database table or column (see the module's rule)."""
    mapped = _OTHER.sub("_", _CAMEL.sub("_", name)).strip("_").lower()
    if not mapped:
        raise ValueError(f"name {name!r} has no letter or digit to build a lake name from")
    return mapped


def mapping(names: Iterable[str], what: str) -> dict[str, str]:
    """Original name -> lake name; two originals mapping to one lake name is an error."""
    result: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in names:
        mapped = snake(name)
        if mapped in taken:
            raise ValueError(f"{what} {taken[mapped]!r} and {name!r} both map to {mapped!r}")
        taken[mapped] = name
        result[name] = mapped
    return result
