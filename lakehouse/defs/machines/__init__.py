"""Machine logs: landing folder -> lake (by 2-hour wave) -> typed Parquet -> KPIs."""
