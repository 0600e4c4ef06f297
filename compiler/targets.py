"""Target descriptions: the CPU and its memory regions.

A target names its CPU (for the compiler flags and FPU) and lists memory regions: name,
base address, size, kind (``flash`` or ``sram``) and access cost in wait states. Weights
live in ``weights_region`` (flash by default), the arena in ``arena_region``; weights can
be pinned into SRAM. Built-in targets cover common parts; a TOML file describes a board:

    [target]
    name = "my-board"
    cpu = "cortex-m4"
    arena_region = "SRAM"
    weights_region = "FLASH"
    clock_mhz = 80          # optional: the core clock, for latency estimates

    [[region]]
    name = "FLASH"
    base = 0x08000000
    size = 1048576
    kind = "flash"
    wait_states = 5

    [[region]]
    name = "SRAM"
    base = 0x20000000
    size = 262144
    kind = "sram"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from compiler.diagnostics import EdgeirError

# Cores with the DSP extension (SMLAD, SXTB16): the int8 kernels of edgeir_s8_dsp.c.
DSP_CPUS = frozenset({"cortex-m4", "cortex-m7", "cortex-m33"})
CPUS = {"host": True, "cortex-m0plus": False, "cortex-m4": True, "cortex-m7": True,
        "cortex-m33": True}


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int
    kind: str               # "flash" or "sram"
    wait_states: int = 0

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class Target:
    name: str
    cpu: str
    regions: tuple[Region, ...] = ()
    arena_region: str = ""
    weights_region: str = ""
    clock_mhz: float = 0.0  # the core clock, when the description states it (0: not stated)

    @property
    def has_fpu(self) -> bool:
        return CPUS[self.cpu]

    @property
    def has_dsp(self) -> bool:
        return self.cpu in DSP_CPUS

    @property
    def bare_metal(self) -> bool:
        return bool(self.regions)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)


KB, MB = 1024, 1024 * 1024
FLASH = Region("FLASH", 0x08000000, 1 * MB, "flash", 5)
SRAM = Region("SRAM", 0x20000000, 256 * KB, "sram", 0)
BUILTIN: dict[str, Target] = {
    "host": Target("host", "host"),
    # Generic parts: internal flash and SRAM as the common Cortex-M microcontrollers have.
    "cortex-m0plus": Target("cortex-m0plus", "cortex-m0plus",
                            (Region("FLASH", 0x00000000, 256 * KB, "flash", 1),
                             Region("SRAM", 0x20000000, 32 * KB, "sram", 0)), "SRAM", "FLASH"),
    "cortex-m4": Target("cortex-m4", "cortex-m4", (FLASH, SRAM), "SRAM", "FLASH"),
    "cortex-m7": Target("cortex-m7", "cortex-m7",
                        (Region("FLASH", 0x08000000, 1 * MB, "flash", 7),
                         Region("SRAM", 0x20000000, 320 * KB, "sram", 0)), "SRAM", "FLASH"),
    "cortex-m33": Target("cortex-m33", "cortex-m33",
                         (Region("FLASH", 0x08000000, 512 * KB, "flash", 3),
                          Region("SRAM", 0x20000000, 256 * KB, "sram", 0)), "SRAM", "FLASH"),
    # A Cortex-M4 with 256 KB SRAM whose model weights sit in external QSPI flash.
    "cortex-m4-qspi": Target("cortex-m4-qspi", "cortex-m4",
                             (FLASH, Region("QSPI", 0x90000000, 16 * MB, "flash", 20), SRAM),
                             "SRAM", "QSPI"),
}


def _fail(what: str, where: str, hint: str | None = None) -> EdgeirError:
    return EdgeirError(what, where, hint, "input")


def validate(target: Target, where: str) -> Target:
    names = [r.name for r in target.regions]
    if len(set(names)) != len(names):
        raise _fail("region names must be unique", where)
    for r in target.regions:
        if r.size <= 0 or r.base < 0 or r.wait_states < 0:
            raise _fail(f"region {r.name}: base, size and wait_states must be non-negative "
                        f"(size > 0)", where)
        if r.kind not in ("flash", "sram"):
            raise _fail(f"region {r.name}: kind must be flash or sram, not {r.kind!r}", where)
    ordered = sorted(target.regions, key=lambda r: r.base)
    for a, b in zip(ordered, ordered[1:]):
        if b.base < a.end:
            raise _fail(f"regions {a.name} [0x{a.base:08x}, 0x{a.end:08x}) and {b.name} "
                        f"[0x{b.base:08x}, 0x{b.end:08x}) overlap", where,
                        "give each region its own address range")
    if target.regions:
        for role, name, kinds in (("arena_region", target.arena_region, ("sram",)),
                                  ("weights_region", target.weights_region, ("flash", "sram"))):
            if name not in names:
                raise _fail(f"{role} {name!r} is not one of the regions {names}", where)
            if target.region(name).kind not in kinds:
                raise _fail(f"{role} {name!r} is {target.region(name).kind}, it must be "
                            f"{' or '.join(kinds)}", where)
    return target


def load_target(spec: str) -> Target:
    """A built-in target by name, or a TOML target description by path."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec)
    if path.suffix != ".toml":
        raise EdgeirError(f"unknown target '{spec}'", "--target",
                          f"use one of {', '.join(BUILTIN)} or a .toml target file", "usage")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise _fail("no such file", spec, "check the target path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(f"cannot read target file: {err}", spec) from None
    except tomllib.TOMLDecodeError as err:
        raise _fail(f"malformed TOML: {err}", spec, "fix the target description") from None
    head = data.get("target")
    if not isinstance(head, dict):
        raise _fail("missing [target] table", spec, "see the README's target format")
    try:
        regions = tuple(Region(str(r["name"]), int(r["base"]), int(r["size"]),
                               str(r.get("kind", "sram")), int(r.get("wait_states", 0)))
                        for r in data.get("region", []))
        target = Target(str(head["name"]), str(head["cpu"]), regions,
                        str(head.get("arena_region", "")), str(head.get("weights_region", "")),
                        float(head.get("clock_mhz", 0.0)))
    except KeyError as err:
        raise _fail(f"missing key {err}", spec, "see the README's target format") from None
    except (TypeError, ValueError) as err:
        raise _fail(f"bad value: {err}", spec) from None
    if not target.clock_mhz >= 0 or target.clock_mhz == float("inf"):
        raise _fail(f"clock_mhz must be a positive number, not {target.clock_mhz}", spec)
    if target.cpu not in CPUS:
        raise _fail(f"unknown cpu {target.cpu!r}", spec, f"use one of {', '.join(CPUS)}")
    if target.cpu != "host" and not regions:
        raise _fail("a Cortex-M target needs [[region]] tables", spec)
    return validate(target, spec)
