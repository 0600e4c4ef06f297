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
    for name in names:
        if names.count(name) > 1:
            raise _fail(f"region name {name!r} is used twice", where,
                        "rename one of the regions (names must be unique)")
    for r in target.regions:
        if r.size <= 0:
            raise _fail(f"region {r.name}: size must be positive, not {r.size}", where,
                        "give its size in bytes, a positive integer")
        if r.base < 0:
            raise _fail(f"region {r.name}: base must be non-negative, not {r.base}", where,
                        "give its start address (base = 0x20000000, say)")
        if r.wait_states < 0:
            raise _fail(f"region {r.name}: wait_states must be non-negative, not "
                        f"{r.wait_states}", where, "give the wait states of a read (0 for SRAM)")
        if r.kind not in ("flash", "sram"):
            raise _fail(f"region {r.name}: kind must be flash or sram, not {r.kind!r}", where,
                        'write kind = "flash" or kind = "sram"')
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
                raise _fail(f"{role} {name!r} is not one of the regions {names}", where,
                            f"set {role} to the name of one of them")
            if target.region(name).kind not in kinds:
                raise _fail(f"{role} {name!r} is {target.region(name).kind}, it must be "
                            f"{' or '.join(kinds)}", where,
                            f"set {role} to a {' or '.join(kinds)} region")
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
    tables = data.get("region", [])
    if not isinstance(tables, list) or not all(isinstance(r, dict) for r in tables):
        raise _fail("'region' must be [[region]] tables", spec, "see the README's target format")
    regions = tuple(
        Region(_key(r, "name", str, spec, "[[region]]"),
               _key(r, "base", int, spec, f"region {r.get('name')}"),
               _key(r, "size", int, spec, f"region {r.get('name')}"),
               _key(r, "kind", str, spec, f"region {r.get('name')}", "sram"),
               _key(r, "wait_states", int, spec, f"region {r.get('name')}", 0))
        for r in tables)
    target = Target(_key(head, "name", str, spec), _key(head, "cpu", str, spec), regions,
                    _key(head, "arena_region", str, spec, None, ""),
                    _key(head, "weights_region", str, spec, None, ""),
                    _key(head, "clock_mhz", float, spec, None, 0.0))
    if not target.clock_mhz >= 0 or target.clock_mhz == float("inf"):
        raise _fail(f"clock_mhz must be a positive number, not {target.clock_mhz}", spec,
                    "give the core clock in MHz (clock_mhz = 80), or leave it out")
    if target.cpu not in CPUS:
        raise _fail(f"unknown cpu {target.cpu!r}", spec, f"use one of {', '.join(CPUS)}")
    if target.cpu != "host" and not regions:
        raise _fail("a Cortex-M target needs [[region]] tables", spec,
                    "add its flash and SRAM regions (see the README's target format)")
    return validate(target, spec)


_NAMES = {str: "a string", int: "an integer", float: "a number"}


def _key(table: dict, key: str, kind: type, spec: str, within: str | None = "[target]",
         default: object = None) -> object:
    """``table[key]`` as ``kind``; a missing key without a default or a value of another
    kind is an error naming the key."""
    if key not in table:
        if default is None:
            raise _fail(f"missing key {key!r} in {within or '[target]'}", spec,
                        "see the README's target format")
        return default
    value = table[key]
    ok = isinstance(value, str) if kind is str else (
        isinstance(value, (int, float) if kind is float else int)
        and not isinstance(value, bool))
    if not ok:
        raise _fail(f"{within + ': ' if within else ''}{key} must be {_NAMES[kind]}, not "
                    f"{value!r}", spec, f"write {key} as {_NAMES[kind]} (see the README's "
                    "target format)")
    return kind(value)
