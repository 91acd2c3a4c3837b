"""Run one method in this process and report its time and peak memory (used as a subprocess)."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from .methods import METHODS, Data


def main() -> None:
    method, folder, result = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    t0 = time.perf_counter()
    data = Data(folder)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter()
    frame = METHODS[method](data)
    t2 = time.perf_counter()
    frame.to_pickle(result)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"method": method, "load_s": t1 - t0, "compute_s": t2 - t1,
                      "peak_mib": peak / 1024, "input_mib": loaded / 1024}))


if __name__ == "__main__":
    main()
