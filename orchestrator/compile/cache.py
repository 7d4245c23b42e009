"""The host's cache of compiled artifacts: CACHE/compiled/BACKEND/KEY.SUFFIX, KEY.json beside
it describing what the key holds.

The key is the sha256 of a canonical JSON of everything that decides the artifact's bytes (the
backend's `Artifact.key_fields`: model sha256, backend, target, precision, input shapes,
compiler version, options). The same key names the file on the device, so a device that has
it is not sent it again. A hit does no compile work; a miss compiles into a temporary name and
renames, so a file under its key is always whole.
"""

import fcntl
import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..agent_build import cache_dir

FOLDER = "compiled"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compile_key(fields: Dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def package_version(distribution: str) -> Optional[str]:
    """An installed distribution's version from its metadata (no import of the package: TVM
    takes seconds to import); None when it is not installed."""
    from importlib import metadata  # here: importing it slows every command's start

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class Compiled:
    """One artifact as `edgebench compile --json` reports it."""

    model: str
    backend: str
    target: Optional[str]
    key: str
    path: str
    cached: bool  # True: found in the cache, nothing was compiled
    seconds: Optional[float]  # this compile's wall time; None when it came from the cache

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def backend_folder(backend: str) -> Path:
    return cache_dir() / FOLDER / backend


def compiled(declared, model, options: Optional[dict], target: Optional[str], note=None) -> Compiled:
    """`declared`'s artifact of `model` for `target`, compiled only when the cache lacks it.
    `note(message)`, if given, hears of each compile before it starts (it takes seconds)."""
    own = declared.own_options(options)
    key = declared.artifact.key(model, target, own)
    folder = backend_folder(declared.name)
    out = folder / (key + declared.artifact.suffix)
    found = Compiled(model.name, declared.name, target, key, str(out), cached=True, seconds=None)
    if out.is_file():
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / ".lock"):
        if out.is_file():  # another sweep worker or process compiled it meanwhile
            return found
        if note is not None:
            note("compiling %s for %s (%s); this takes seconds" % (model.name, declared.name, target or "-"))
        seconds = _compile_into(declared, model, own, target, out)
    _write_sidecar(folder / (key + ".json"), declared, model, target, own, key, seconds)
    return Compiled(model.name, declared.name, target, key, str(out), cached=False, seconds=seconds)


def _compile_into(declared, model, own: dict, target: Optional[str], out: Path) -> float:
    part = out.with_name(".%s.part-%d-%d" % (out.name, os.getpid(), threading.get_ident()))
    start = time.monotonic()
    try:
        declared.compile(model, own, target, part)
        os.replace(part, out)  # whole or not at all
    finally:
        if part.exists():
            part.unlink()
    return round(time.monotonic() - start, 3)


def _write_sidecar(path: Path, declared, model, target, own: dict, key: str, seconds: float) -> None:
    """What the key was made of, for whoever wonders what a cached file is (not read back)."""
    sidecar = {
        "key": key,
        "backend": declared.name,
        "model": model.name,
        "model_path": str(model.path),
        "target": target,
        "fields": declared.artifact.fields(model, target, own),
        "compile_seconds": seconds,
        "compiled_unix": time.time(),
    }
    temporary = path.with_name(".%s.%d-%d" % (path.name, os.getpid(), threading.get_ident()))
    temporary.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


@contextmanager
def _exclusive(lock_path: Path):
    """One compile at a time per backend, across this process's threads and other processes
    (each `open` is its own lock holder for flock)."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
