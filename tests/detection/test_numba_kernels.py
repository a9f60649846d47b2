"""The compiled kernels are cached on disk: a second process loads them instead of compiling."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CALL_BOTH = """
import json
import numpy as np
from detection import numba_kernels as k
from detection.graph_segments import touched_segment_pixels
from detection.learned import load_model
from detection.trees import predict_proba
touched_segment_pixels(np.random.default_rng(0).random((9, 7, 3)), np.ones((9, 7), bool),
                       scale=50, sigma=0.8, min_size=4)
m = load_model()
predict_proba(m.trees, np.zeros((m.trees.n_features, 3), np.float32))
print(json.dumps({name: [len(f.stats.cache_hits), len(f.stats.cache_misses)]
                  for name, f in (("touched", k.touched_pixels), ("walk", k.walk_trees))}))
"""


def _run() -> dict:
    done = subprocess.run([sys.executable, "-c", _CALL_BOTH], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_kernels_from_numbas_cache() -> None:
    _run()  # compiles what is not cached yet
    second = _run()
    for name, (hits, misses) in second.items():
        assert misses == 0 and hits >= 1, (name, hits, misses)
