"""Team-added modules, one folder per team, loaded by lakehouse.teams (docs/teams.md)."""
