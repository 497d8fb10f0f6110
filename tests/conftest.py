"""Suite-wide settings: hypothesis profiles, and the project's compiler on PATH.

``HYPOTHESIS_PROFILE=ci`` (what ``make test`` uses) runs a meaningful sample quickly;
``HYPOTHESIS_PROFILE=long`` (``make test-long``) runs every property at least 10,000 times.
Every profile is derandomized so a failure reproduces from the printed example.
"""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# ape-vyper finds the compiler with shutil.which: put this interpreter's bin (the project's
# .venv) first on PATH so `python -m pytest` works without an activated venv.
_bin = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=10_000,
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
