"""Compiled artifacts built on the host: named targets (`targets.py`), the cache keyed by
everything that decides an artifact (`cache.py`), and each backend's compile step
(`tvm_build.py`). Imported by backends.py: nothing heavy at module level."""
