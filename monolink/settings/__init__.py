"""monolink settings, from the environment and `.env` (monolink/env.py; `.env.example` lists every
variable). With DEBUG off this is production: secrets have no default and a missing one stops
start-up with its name. Durations are seconds, and their variables say so (`..._SECONDS`).

One module per concern, each importing what it needs from the ones above it. base.py comes first:
it loads `.env`, which every later module reads.
"""
# isort: skip_file

from .base import *  # noqa: F403
from .mono import *  # noqa: F403
from .tasks import *  # noqa: F403
from .mail import *  # noqa: F403
from .api import *  # noqa: F403
from .operations import *  # noqa: F403
