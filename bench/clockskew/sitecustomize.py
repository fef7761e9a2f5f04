"""Loaded at start-up by every process of a bench "host" (bench/multihost.py puts this folder
first on PYTHONPATH): that host's clock runs CQ_CLOCK_OFFSET seconds ahead (or behind).

Only `time.time()` and `time.time_ns()` are shifted: they are the clock the key pool's ledger
decides slots with. `datetime.now()` (Django's timezone.now(), the timestamps of usage rows and
cooldowns) is C code that reads the system clock directly and stays true.
"""

import os
import time

_offset = float(os.environ.get("CQ_CLOCK_OFFSET") or 0)
if _offset:
    _true_time, _true_time_ns = time.time, time.time_ns

    def _skewed_time() -> float:
        return _true_time() + _offset

    def _skewed_time_ns() -> int:
        return _true_time_ns() + int(_offset * 1e9)

    time.time = _skewed_time
    time.time_ns = _skewed_time_ns
