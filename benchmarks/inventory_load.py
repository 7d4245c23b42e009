"""Time to load large inventories: 3k, 12k and 60k devices (target: 60k under 5 s).

Each inventory is written to a temporary folder, shaped like a real fleet: ssh devices with a
host, a user, a platform, groups (each device in a rack group and a platform group) and
telemetry settings on some, plus a top-level `groups:` section naming a share of them. The
time is that of `load_inventory`, the call every command makes; loading time must grow
linearly with the number of devices.

  .venv/bin/python benchmarks/inventory_load.py
"""

import sys
import tempfile
import time
from pathlib import Path

from edgebench.orchestrator.inventory import load_inventory

SIZES = (3_000, 12_000, 60_000)
TARGET_60K_S = 5.0


def device_entry(i: int) -> str:
    platform = ("jetson-nano", "rpi4", "generic")[i % 3]
    telemetry = "    telemetry: {power: auto, interval_ms: 100}\n" if i % 10 == 0 else ""
    return (
        f"  dev{i:06d}:\n"
        f"    connection: ssh\n"
        f"    host: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n"
        f"    platform: {platform}\n"
        f"    groups: [rack{i // 40}, {platform.replace('-', '')}]\n"
        f"{telemetry}"
    )


def inventory_text(count: int) -> str:
    lines = ["version: 1\n", "defaults:\n", "  user: bench\n", "  python: python3\n", "devices:\n"]
    lines += [device_entry(i) for i in range(count)]
    lines.append("groups:\n")
    lines.append("  canary: [%s]\n" % ", ".join(f"dev{i:06d}" for i in range(0, count, 100)))
    lines.append("  lab: [%s]\n" % ", ".join(f"dev{i:06d}" for i in range(count // 2)))
    return "".join(lines)


def time_load(path: Path) -> float:
    start = time.perf_counter()
    inventory = load_inventory(path)
    elapsed = time.perf_counter() - start
    assert len(inventory.devices) > 0
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="edgebench-inventory-") as tmp:
        times = {}
        for count in SIZES:
            path = Path(tmp) / f"inventory-{count}.yaml"
            path.write_text(inventory_text(count))
            times[count] = time_load(path)
            size_mb = path.stat().st_size / 1e6
            print(
                f"{count:>6} devices ({size_mb:5.1f} MB): {times[count]:6.2f} s "
                f"({times[count] / count * 1e6:5.1f} us per device)"
            )
    verdict = "ok" if times[SIZES[-1]] < TARGET_60K_S else "TOO SLOW"
    print(f"60k devices: {times[SIZES[-1]]:.2f} s (target < {TARGET_60K_S:.0f} s): {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
