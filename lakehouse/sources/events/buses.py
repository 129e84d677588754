"""Open the event bus a URL names, on any backend (local folder, SQS, Azure Storage Queue)."""

from lakehouse.sources.events.bus import SCHEMES, Bus, BusUnavailable


def bus_from_url(url: str) -> Bus:
    """The bus at ``url`` (``local://<dir>``, ``sqs://<queue>``, ``azqueue://<queue>``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES or not rest:
        raise BusUnavailable(
            f"event bus URL {url!r} is not one of local://<dir>, sqs://<queue>, "
            "azqueue://<queue>: set LAKEHOUSE_BUS_URL"
        )
    if scheme == "local":
        from lakehouse.sources.events.local_bus import LocalBus

        return LocalBus(rest, url=url)
    name = rest.strip("/")
    if "/" in name:
        raise BusUnavailable(f"event bus URL {url!r}: the queue name may not contain '/'")
    if scheme == "sqs":
        from lakehouse.sources.events.sqs_bus import SqsBus

        return SqsBus(name)
    from lakehouse.sources.events.azure_bus import AzureQueueBus

    return AzureQueueBus(name)
