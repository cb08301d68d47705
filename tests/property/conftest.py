"""The property tier: hypothesis runs with one fixed profile, so `make test` is reproducible.

The profile ``fargate-bastion`` is derandomized (the examples follow from each test's own
code: the same on every machine, every run), keeps no example database (and hypothesis's
caches go to the temporary directory: no ``.hypothesis/`` in the repository), has no
deadline (the local AWS runs whole workflows) and, when a property fails, prints the blob
that replays the failing example (``@reproduce_failure``). ``HYPOTHESIS_PROFILE=deep``
runs ten times as many random examples, for a deeper search by hand; `make test` never
runs it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import settings

# Before any task module is imported: the tracer must not look for an X-Ray daemon.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
# Speed: no test needs moto's catalogue of default AMIs.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# Hypothesis's caches (unicode tables, constants from the source) outside the repository.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "fargate-bastion-hypothesis")
)

#: The profile `make test` runs.
FIXED_PROFILE = "fargate-bastion"
#: Examples per property (a property that runs whole executions takes a share of them).
EXAMPLES = 300

settings.register_profile(
    FIXED_PROFILE,
    derandomize=True,
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    database=None,
)
settings.register_profile(
    "deep",
    parent=settings.get_profile(FIXED_PROFILE),
    derandomize=False,
    max_examples=10 * EXAMPLES,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", FIXED_PROFILE))
