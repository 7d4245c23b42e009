"""Where the agent reads the device's files: "/" on a real board. A simulated board (test
fleet) sets EDGEBENCH_SYSROOT to a tree with the real layout; everything read from it is
tagged simulated, in the facts and in every result."""

import os


def root():
    return os.environ.get("EDGEBENCH_SYSROOT") or "/"


def simulated():
    return root() != "/"
