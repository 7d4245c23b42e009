"""Telemetry parsers and readers (standard library only, Python >= 3.6).

Every function here is pure: it reads text passed in, or files under a directory `root` passed
in (default "/"), so tests run against captured lines and fake trees with the real layout.
A sensor that is not there gives None, never 0. Units are in the names (`_mw`, `_mv`, `_uj`).

    tegrastats  -- Jetson `tegrastats` lines (JetPack 4 to 7)
    perfstat    -- `perf stat -x,` CSV output
    vcgencmd    -- Raspberry Pi firmware `vcgencmd` outputs
    sysfs_power -- INA3221 (iio and hwmon), INA2xx hwmon and RAPL power sensors in sysfs
    rails       -- which Jetson rail(s) make the board total
    energy      -- average power and energy per inference from (t, mW) samples
"""
