"""Asset keys of the machines domain: source (the landing folder) -> lake -> warehouse."""

import dagster as dg

GROUP = "machines"
OWNERS = ["team:manufacturing"]

LANDING_KEY = dg.AssetKey(["source", "machines", "landing"])
RAW_KEY = dg.AssetKey(["lake", "machines", "raw"])
PARSED_KEY = dg.AssetKey(["warehouse", "machines", "parsed"])
HOURLY_KEY = dg.AssetKey(["warehouse", "machines", "kpis_hourly"])
DAILY_KEY = dg.AssetKey(["warehouse", "machines", "kpis_daily"])
WAVE_ASSETS = [RAW_KEY, PARSED_KEY, HOURLY_KEY]  # what a wave's run materialises
