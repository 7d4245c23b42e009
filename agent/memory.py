"""Process and system memory, from /proc (Linux). Values in MiB; None where not readable."""

import os

KIB_PER_MIB = 1024.0


def _status_kib(field, proc_root="/proc"):
    try:
        with open(os.path.join(proc_root, "self", "status")) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb(proc_root="/proc"):
    """Peak resident set size of this process (VmHWM)."""
    kib = _status_kib("VmHWM", proc_root)
    if kib is None:
        try:
            import resource  # ru_maxrss is in KiB on Linux

            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        except (ImportError, OSError):
            return None
    return kib / KIB_PER_MIB


def rss_mb(proc_root="/proc"):
    kib = _status_kib("VmRSS", proc_root)
    return None if kib is None else kib / KIB_PER_MIB


def reset_peak_rss(proc_root="/proc"):
    """Reset VmHWM to the current RSS (Linux >= 4.0), so that each trial in a long-lived
    `serve` process reports its own peak, not the largest model's seen so far."""
    try:
        with open(os.path.join(proc_root, "self", "clear_refs"), "w") as f:
            f.write("5")
        return True
    except (IOError, OSError):
        return False


def meminfo_mb(proc_root="/proc"):
    """MemTotal and MemAvailable of the system."""
    values = {}
    try:
        with open(os.path.join(proc_root, "meminfo")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("MemTotal:", "MemAvailable:"):
                    values[parts[0][:-1]] = int(parts[1]) / KIB_PER_MIB
    except (IOError, OSError, ValueError):
        pass
    return {"total_mb": values.get("MemTotal"), "available_mb": values.get("MemAvailable")}
