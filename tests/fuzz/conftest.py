"""Hypothesis profiles for the loader fuzz tests.

`suite` (the default) keeps each loader to a couple of hundred examples so the suite stays fast on
shared CPUs. For a longer local hunt:

    TUICHAT_FUZZ=long .venv/bin/python -m pytest -q tests/fuzz     # 5,000 examples per loader
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               print_blob=True)
settings.register_profile("suite", max_examples=200, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=5000, **_COMMON)
settings.load_profile(os.environ.get("TUICHAT_FUZZ", "suite"))
