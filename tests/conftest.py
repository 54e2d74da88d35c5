"""Fixtures for every tier: one folder of exported inference graphs for the whole session.

Exporting a model's graphs takes seconds (models.backends.export); every CLI run, stylizer and
worker process of the session shares this folder, as a deployment's workers share theirs, so a
model is exported once per session rather than once per test.
"""

import atexit
import os
import shutil
import tempfile

GRAPH_CACHE = tempfile.mkdtemp(prefix="atelier-graphs-")
os.environ["ATELIER_GRAPH_CACHE"] = GRAPH_CACHE
atexit.register(shutil.rmtree, GRAPH_CACHE, ignore_errors=True)
