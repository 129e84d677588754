"""Team-added modules, one folder per team, loaded by lakehouse.components.teams (docs/teams.md)."""
