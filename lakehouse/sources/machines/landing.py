"""The machine logs' landing: the file-drop landing (``sources/files/landing.py``) of the
machines drop (``drop.yaml``): ``<landing>/machines/`` -> ``<lake>/machines/raw``, 2-hour waves.
Its operations are ``MACHINES``' methods; the generic names live in ``sources/files/landing``."""

from lakehouse.sources.files.landing import landing_for
from lakehouse.sources.machines.formats import SPEC

MACHINES = landing_for(SPEC)
LANDING_PREFIX = MACHINES.prefix
CLAIMED_PREFIX = MACHINES.claimed_prefix
TAKEN_PREFIX = MACHINES.taken_prefix
LAKE_PREFIX = MACHINES.lake_prefix
