"""Named compile targets: what a compiled backend (TVM) builds for. A device names one with the
inventory key `target:` (default from its platform, or `native` for `connection: local`).

Plain data, no TVM import: the inventory and the compile key read it on every command.
TVM 0.27 rejects target strings with flags; the dict form below is what it accepts
(docs/DESIGN.md, "Measured here").
"""

import platform
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..errors import UserError

EM_X86_64 = 62  # ELF e_machine of an x86-64 shared library
EM_AARCH64 = 183
AARCH64_CROSS = "aarch64-linux-gnu-g++"  # Debian's g++-aarch64-linux-gnu
X86_64_CROSS = "x86_64-linux-gnu-g++"  # Debian's g++-x86-64-linux-gnu
NATIVE = "native"

_ARCH_E_MACHINE = {"x86_64": EM_X86_64, "amd64": EM_X86_64, "aarch64": EM_AARCH64, "arm64": EM_AARCH64}


@dataclass(frozen=True)
class Target:
    name: str
    spec: Dict  # TVM's dict target; `native` gets the host's mcpu when it is built
    arch: str  # "x86_64" | "aarch64": the machine the library runs on
    cross_compiler: Optional[str]  # the linker when this host is another arch; None: the host's
    e_machine: int  # expected in the library's ELF header
    description: str

    def linker(self, host_arch: str = None) -> Optional[str]:
        """The cross compiler to export with, or None for the host's own (same architecture)."""
        host = normalized_arch(host_arch or platform.machine())
        return None if host == self.arch else self.cross_compiler


def normalized_arch(machine: str) -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())


def _native() -> Target:
    arch = normalized_arch(platform.machine())
    return Target(
        name=NATIVE,
        spec={"kind": "llvm"},
        arch=arch,
        cross_compiler=None,
        e_machine=_ARCH_E_MACHINE.get(arch, 0),
        description="this host's CPU (llvm, its mcpu): the `local` device and test-fleet devices",
    )


TARGETS: Dict[str, Target] = {
    t.name: t
    for t in (
        _native(),
        Target(
            "x86_64",
            {"kind": "llvm", "mtriple": "x86_64-linux-gnu"},
            "x86_64",
            X86_64_CROSS,
            EM_X86_64,
            "any x86-64 Linux machine (generic CPU)",
        ),
        Target(
            "aarch64",
            {"kind": "llvm", "mtriple": "aarch64-linux-gnu"},
            "aarch64",
            AARCH64_CROSS,
            EM_AARCH64,
            "any 64-bit Arm Linux machine (generic CPU)",
        ),
        Target(
            "rpi4",
            {
                "kind": "llvm",
                "mtriple": "aarch64-linux-gnu",
                "mcpu": "cortex-a72",
                "mattr": ["+neon"],
                "num-cores": 4,
            },
            "aarch64",
            AARCH64_CROSS,
            EM_AARCH64,
            "Raspberry Pi 4: 4x Cortex-A72, 64-bit OS",
        ),
        Target(
            "jetson-nano",
            {
                "kind": "llvm",
                "mtriple": "aarch64-linux-gnu",
                "mcpu": "cortex-a57",
                "mattr": ["+neon"],
                "num-cores": 4,
            },
            "aarch64",
            AARCH64_CROSS,
            EM_AARCH64,
            "Jetson Nano's CPU: 4x Cortex-A57 (the GPU is TensorRT's)",
        ),
    )
}
NAMES: Tuple[str, ...] = tuple(TARGETS)

# A device's target when the inventory names none: its board's, or this host's for `local`.
PLATFORM_TARGETS = {"rpi4": "rpi4", "jetson-nano": "jetson-nano"}


def default_target(connection: str, platform_name: Optional[str]) -> Optional[str]:
    if platform_name in PLATFORM_TARGETS:
        return PLATFORM_TARGETS[platform_name]
    return NATIVE if connection == "local" else None


def get(name: str) -> Target:
    if name not in TARGETS:
        raise UserError("unknown compile target '%s'; this edgebench knows: %s" % (name, ", ".join(NAMES)))
    return TARGETS[name]


def elf_machine(path) -> Optional[int]:
    """The e_machine of an ELF file (62 x86-64, 183 aarch64); None when it is not ELF."""
    with open(path, "rb") as stream:
        header = stream.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order = "little" if header[5] == 1 else "big"  # EI_DATA
    return int.from_bytes(header[18:20], order)
