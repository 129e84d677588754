"""The machine logs' landing: the file-drop landing (``sources/files/landing.py``) of the
machines drop (``drop.yaml``): ``<landing>/machines/`` -> ``<lake>/machines/raw``, 2-hour waves."""

from lakehouse.sources.files.landing import (
    LINGER_SECONDS,
    MANIFEST,
    SETTLE_SECONDS,
    LandingFile,
    landing_for,
    settle,
    taken_at,
)
from lakehouse.sources.machines.formats import SPEC

MACHINES = landing_for(SPEC)
LANDING_PREFIX = MACHINES.prefix
CLAIMED_PREFIX = MACHINES.claimed_prefix
TAKEN_PREFIX = MACHINES.taken_prefix
LAKE_PREFIX = MACHINES.lake_prefix

list_landing = MACHINES.list_landing
refuse = MACHINES.refuse
wave_of = MACHINES.wave_of
claim = MACHINES.claim
claimed = MACHINES.claimed
sweep_taken = MACHINES.sweep_taken
take_folder = MACHINES.take_folder
wave_takes = MACHINES.wave_takes
raw_files = MACHINES.raw_files
read_manifest = MACHINES.read_manifest
take_wave = MACHINES.take_wave

__all__ = [
    "CLAIMED_PREFIX",
    "LAKE_PREFIX",
    "LANDING_PREFIX",
    "LINGER_SECONDS",
    "MANIFEST",
    "SETTLE_SECONDS",
    "TAKEN_PREFIX",
    "LandingFile",
    "claim",
    "claimed",
    "list_landing",
    "raw_files",
    "read_manifest",
    "refuse",
    "settle",
    "sweep_taken",
    "take_folder",
    "take_wave",
    "taken_at",
    "wave_of",
    "wave_takes",
]
