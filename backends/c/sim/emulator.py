"""Run a sim ELF in unicorn: exact instruction counts, a cycle ESTIMATE, the outputs.

Counting: one UC_HOOK_BLOCK callback per translated block adds the block's instructions
and table cycles (decoded once by capstone and cached by address and size; a per-instruction
UC_HOOK_CODE hook would miss instructions inside Thumb IT blocks), plus the taken-branch
penalty when a block does not start where the previous one ended. A UC_HOOK_MEM_READ hook
on each region with wait states (only those: SRAM reads cost no callback) counts its data
reads. Block hooks on the harness's edgeir_sim_ready / edgeir_sim_layer / edgeir_sim_done
take snapshots of the counters, and ready writes the next sample's inputs.

The callbacks are registered straight through unicorn's C API when the binding exposes it
(unicorn 2.1: one Python frame per call instead of three); otherwise through hook_add.
"""

from __future__ import annotations

import atexit
import os
import struct
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from backends.c.sim.timing import BRANCH_PENALTY, Timing
from compiler.diagnostics import EdgeirError

PAGE = 0x1000
STACK_PAINT = 0xA5
SECONDS_PER_SAMPLE = 600  # a wall-clock limit against a program that never finishes


@dataclass
class Counts:
    """Counters at one point of the run: instructions, table cycles plus taken-branch
    penalties, and data reads per region with wait states."""

    instructions: int
    cycles: int
    reads: tuple[int, ...]

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.instructions - other.instructions, self.cycles - other.cycles,
                      tuple(a - b for a, b in zip(self.reads, other.reads)))

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.instructions + other.instructions, self.cycles + other.cycles,
                      tuple(a + b for a, b in zip(self.reads, other.reads)))


@dataclass
class Sample:
    start: Counts
    layers: list[tuple[int, Counts]] = field(default_factory=list)  # (k, counts at marker)
    end: Counts | None = None
    outputs: list[bytes] = field(default_factory=list)
    status: int = 0


@dataclass
class RunResult:
    samples: list[Sample]
    read_regions: list[str]          # the regions whose reads are counted, in Counts.reads
    stack_bytes: int
    seconds: float
    instructions: int                # everything executed, start-up included


def _dump_profile(path: str, per_block: dict[int, int], elf: _Elf) -> None:
    """EDGEIR_SIM_PROFILE=FILE (for kernel work): every block, hottest first, with its function
    and the instructions they executed, written when the process exits."""
    lines = [f"0x{address:08x} {n:>12,} {elf.where(address)}"
             for address, n in sorted(per_block.items(), key=lambda kv: -kv[1])]
    Path(path).write_text("\n".join(lines) + "\n")


def _cpu_model(cpu: str) -> int:
    import unicorn.arm_const as arm

    return {"cortex-m0plus": arm.UC_CPU_ARM_CORTEX_M0, "cortex-m4": arm.UC_CPU_ARM_CORTEX_M4,
            "cortex-m7": arm.UC_CPU_ARM_CORTEX_M7,
            "cortex-m33": arm.UC_CPU_ARM_CORTEX_M33}.get(cpu, arm.UC_CPU_ARM_CORTEX_M4)


def _add_hook(uc, htype: int, fn, begin: int = 1, end: int = 0) -> None:
    """Register ``fn`` (called as fn(handle_or_uc, ...): the first argument is ignored)."""
    import ctypes

    import unicorn

    try:
        from unicorn.unicorn_py3 import unicorn as binding

        cfunc = {unicorn.UC_HOOK_BLOCK: binding.HOOK_CODE_CFUNC,
                 unicorn.UC_HOOK_MEM_READ: binding.HOOK_MEM_ACCESS_CFUNC}[htype]
        handle = binding.uc_hook_h()
        fptr = ctypes.cast(cfunc(fn), cfunc)
        status = binding.uclib.uc_hook_add(uc._uch, ctypes.byref(handle), htype, fptr,
                                           ctypes.c_void_p(0), ctypes.c_uint64(begin),
                                           ctypes.c_uint64(end))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        uc._callbacks[handle.value] = fptr  # keeps the callback alive
    except (ImportError, AttributeError, KeyError, TypeError):
        uc.hook_add(htype, fn, None, begin, end)


class _Elf:
    def __init__(self, path: Path) -> None:
        from elftools.elf.elffile import ELFFile

        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            self.segments = [(seg["p_paddr"], seg.data()) for seg in elf.iter_segments()
                             if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]
            self.symbols: dict[str, int] = {}
            funcs = []
            for sym in elf.get_section_by_name(".symtab").iter_symbols():
                if sym.name:
                    self.symbols.setdefault(sym.name, sym["st_value"])
                if sym["st_info"]["type"] == "STT_FUNC" and sym.name:
                    funcs.append((sym["st_value"] & ~1, sym["st_size"], sym.name))
        funcs.sort()
        self._starts = [f[0] for f in funcs]
        self._funcs = funcs

    def addr(self, name: str) -> int:
        return self.symbols[name] & ~1

    def where(self, pc: int) -> str:
        i = bisect_right(self._starts, pc) - 1
        if i >= 0:
            start, size, name = self._funcs[i]
            if pc < start + max(size, 1):
                return f"{name}+0x{pc - start:x}"
        return "no symbol"


def _map_regions(uc, regions: list[dict]) -> None:
    import unicorn

    spans = sorted((r["base"] // PAGE * PAGE, -(-(r["base"] + r["size"]) // PAGE) * PAGE)
                   for r in regions)
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    for lo, hi in merged:
        uc.mem_map(lo, hi - lo, unicorn.UC_PROT_ALL)


def run_elf(elf_path: Path, regions: list[dict], cpu: str, inputs: list[list[bytes]],
            out_bytes: list[int], where: str, count_reads: bool = True) -> RunResult:
    """Run the harness ELF once for all samples (each a list of input byte strings).
    ``count_reads``: hook data reads of the regions with wait states (see run_sim on why a
    run without them is the reference)."""
    import unicorn
    import unicorn.arm_const as arm

    elf = _Elf(elf_path)
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
    uc.ctl_set_cpu_model(_cpu_model(cpu))
    _map_regions(uc, regions)
    for paddr, data in elf.segments:
        if not any(r["base"] <= paddr and paddr + len(data) <= r["base"] + r["size"]
                   for r in regions):
            raise EdgeirError(f"the image has {len(data):,} B at 0x{paddr:08x}, outside the "
                              "target's regions", where, "please report this", "pass")
        uc.mem_write(paddr, data)
    sstack, estack = elf.addr("_sstack"), elf.addr("_estack")
    uc.mem_write(sstack, bytes([STACK_PAINT]) * (estack - sstack))
    uc.reg_write(arm.UC_ARM_REG_SP, estack)
    # No M-profile reset runs: grant coprocessor access (CPACR CP10/CP11) and enable the FPU.
    uc.reg_write(arm.UC_ARM_REG_C1_C0_2, uc.reg_read(arm.UC_ARM_REG_C1_C0_2) | (0xF << 20))
    uc.reg_write(arm.UC_ARM_REG_FPEXC, 0x40000000)

    timing = Timing()
    cache: dict[int, tuple[int, int, int, int]] = {}
    st = [0, 0, -1]  # instructions, cycles, the address the last block falls through to
    errors: list[str] = []

    def fail(message: str) -> None:
        if not errors:
            errors.append(message)
        uc.emu_stop()

    def decode(address: int, size: int) -> tuple[int, int, int, int]:
        try:
            n, cycles = timing.block(bytes(uc.mem_read(address, size)), address)
        except Exception as err:  # noqa: BLE001 - reported as one line after the run
            fail(f"cannot decode the block at 0x{address:08x}: {err}")
            return (0, 0, 0, address + size)
        info = cache[(address << 16) | size] = (n, cycles, cycles + BRANCH_PENALTY,
                                                address + size)
        return info

    def on_block(_h, address, size, _ud, lookup=cache.get, st=st):  # the hot path
        info = lookup((address << 16) | size)
        if info is None:
            info = decode(address, size)
        st[0] += info[0]
        st[1] += info[1] if address == st[2] else info[2]
        st[2] = info[3]

    _add_hook(uc, unicorn.UC_HOOK_BLOCK, on_block)
    profile = os.environ.get("EDGEIR_SIM_PROFILE")  # kernel work: instructions per block
    if profile:
        per_block: dict[int, int] = {}

        def on_block_profile(_h, address, size, _ud):
            info = cache.get((address << 16) | size)
            per_block[address] = per_block.get(address, 0) + (info[0] if info else 0)

        _add_hook(uc, unicorn.UC_HOOK_BLOCK, on_block_profile)
        atexit.register(_dump_profile, profile, per_block, elf)

    waited = [r for r in regions if r["wait_states"] > 0] if count_reads else []
    counters: list[list[int]] = []
    for r in waited:
        counter = [0]

        def on_read(_h, _access, _address, _size, _value, _ud, counter=counter):
            counter[0] += 1

        counters.append(counter)
        _add_hook(uc, unicorn.UC_HOOK_MEM_READ, on_read, r["base"], r["base"] + r["size"] - 1)

    def snap() -> Counts:
        return Counts(st[0], st[1], tuple(c[0] for c in counters))

    samples: list[Sample] = []
    ptrs: dict[str, list[int]] = {}
    more, status = elf.addr("edgeir_sim_more"), elf.addr("edgeir_sim_status")

    def pointers(name: str, n: int) -> list[int]:
        if name not in ptrs:
            ptrs[name] = list(struct.unpack(f"<{n}I", uc.mem_read(elf.addr(name), 4 * n)))
        return ptrs[name]

    def on_ready(_h, _address, _size, _ud):
        try:
            i = len(samples)
            if i < len(inputs):
                for ptr, data in zip(pointers("edgeir_sim_in", len(inputs[i])), inputs[i]):
                    uc.mem_write(ptr, data)
                uc.mem_write(more, struct.pack("<i", 1))
                samples.append(Sample(snap()))
            else:
                uc.mem_write(more, struct.pack("<i", 0))
        except Exception as err:  # noqa: BLE001
            fail(f"cannot write the inputs: {err}")

    def on_layer(_h, _address, _size, _ud):
        try:
            samples[-1].layers.append((uc.reg_read(arm.UC_ARM_REG_R0), snap()))
        except Exception as err:  # noqa: BLE001
            fail(f"layer marker outside an inference: {err}")

    def on_done(_h, _address, _size, _ud):
        try:
            sample = samples[-1]
            sample.end = snap()
            sample.status = struct.unpack("<i", uc.mem_read(status, 4))[0]
            sample.outputs = [bytes(uc.mem_read(ptr, n)) for ptr, n in
                              zip(pointers("edgeir_sim_out", len(out_bytes)), out_bytes)]
        except Exception as err:  # noqa: BLE001
            fail(f"cannot read the outputs: {err}")

    for name, fn in (("edgeir_sim_ready", on_ready), ("edgeir_sim_layer", on_layer),
                     ("edgeir_sim_done", on_done)):
        addr = elf.addr(name)
        _add_hook(uc, unicorn.UC_HOOK_BLOCK, fn, addr, addr)

    exit_addr = elf.addr("edgeir_sim_exit")
    t0 = time.perf_counter()
    try:
        uc.emu_start(elf.addr("edgeir_sim_reset") | 1, exit_addr,
                     timeout=SECONDS_PER_SAMPLE * 1_000_000 * max(1, len(inputs)))
    except unicorn.UcError as err:
        pc = uc.reg_read(arm.UC_ARM_REG_PC)
        raise EdgeirError(f"the emulated program stopped: {err} at pc 0x{pc:08x} "
                          f"({elf.where(pc)})", where,
                          "please report this with the output directory", "pass") from None
    seconds = time.perf_counter() - t0
    if errors:
        raise EdgeirError(f"the emulator failed: {errors[0]}", where,
                          "please report this with the output directory", "pass")
    pc = uc.reg_read(arm.UC_ARM_REG_PC)
    if pc != exit_addr:
        raise EdgeirError(f"the emulated program did not finish within "
                          f"{SECONDS_PER_SAMPLE} s per sample (pc 0x{pc:08x}, {elf.where(pc)})",
                          where, "please report this with the output directory", "pass")
    for i, sample in enumerate(samples):
        if sample.end is None or sample.status != 0:
            raise EdgeirError(f"the model's invoke returned {sample.status} on sample {i}",
                              where, "please report this with the output directory", "pass")
    painted = bytes(uc.mem_read(sstack, estack - sstack))
    untouched = len(painted) - len(painted.lstrip(bytes([STACK_PAINT])))
    return RunResult(samples, [r["name"] for r in waited], estack - sstack - untouched,
                     seconds, st[0])
