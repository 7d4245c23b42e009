"""Builds the agent into one zipapp named by the hash of its sources.

The name changes whenever any agent source changes, so a device never runs a stale agent; it
does not change between clones (file times are not part of the hash).
"""

import hashlib
import os
import shutil
import tempfile
import zipapp
from pathlib import Path

from edgebench import agent as agent_package

PACKAGE_IN_ZIP = "edgebench_agent"  # not "agent": avoid clashing with a module on the device
ENTRY = "import sys\nfrom edgebench_agent.__main__ import main\nsys.exit(main())\n"


def agent_sources() -> list:
    root = Path(agent_package.__file__).parent
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


# The last hash worked out, with the sources' (path, size, mtime) it was worked out from: the
# fan-out asks once per device, and a stat of each source is cheaper than reading it.
_last_hash = (None, None)


def agent_hash() -> str:
    global _last_hash
    sources = agent_sources()
    stamps = tuple((str(p), *_size_and_time(p)) for p in sources)
    if _last_hash[0] == stamps:
        return _last_hash[1]
    root = Path(agent_package.__file__).parent
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    _last_hash = (stamps, digest.hexdigest())
    return _last_hash[1]


def _size_and_time(path: Path) -> tuple:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def agent_filename() -> str:
    return "edgebench-agent-%s.pyz" % agent_hash()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgebench"


def build_agent(out_dir: Path = None) -> Path:
    """Returns the path of the zipapp, building it only when it is not already there."""
    out_dir = Path(out_dir) if out_dir else cache_dir()
    target = out_dir / agent_filename()
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(agent_package.__file__).parent
    with tempfile.TemporaryDirectory() as staging:
        package = Path(staging) / PACKAGE_IN_ZIP
        for path in agent_sources():
            dest = package / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        (Path(staging) / "__main__.py").write_text(ENTRY)
        # A unique temporary name: two edgebench processes may build at once.
        handle, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
        os.close(handle)
        try:
            zipapp.create_archive(staging, tmp, interpreter="/usr/bin/env python3", compressed=True)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target
