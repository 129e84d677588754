"""The store resource builds its Store once per resource, so a step reuses one client."""

import dagster as dg

from lakehouse.components.resources.stores import ObjectStore


def test_a_step_gets_the_same_store_on_every_access(tmp_path):
    seen = []

    @dg.asset
    def uses_the_lake(lake: ObjectStore) -> None:
        seen.extend([lake.store, lake.store])

    assert dg.materialize(
        [uses_the_lake], resources={"lake": ObjectStore(url=str(tmp_path))}
    ).success
    assert seen[0] is seen[1]
    assert seen[0].url == str(tmp_path)
