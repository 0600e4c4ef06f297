"""The sim engine's cost model: a Cortex-M4 instruction timing table.

Cycles are an ESTIMATE. Each instruction costs its zero-wait-state cycles from the
Cortex-M4 Technical Reference Manual (r0p1: Table 3-1, processor instructions, and Table
7-1, FPU instructions), simplified as ``CYCLES`` below says; a taken branch (any block
that does not start where the previous one fell through) adds the pipeline refill ``P``;
every data read from a memory region adds that region's wait states (counted per access by
the emulator). Instruction fetches are assumed to hit a flash accelerator or cache (no
wait states). Not modelled: load/store pipelining (back-to-back loads complete in 1
cycle), data-dependent division time, the variable refill (1 to 3 cycles), bus
contention, flash prefetch lines. The same table is applied to every Cortex-M target.
"""

from __future__ import annotations

# Pipeline refill after a taken branch (the TRM's P: 1 to 3 cycles).
BRANCH_PENALTY = 2
DIVIDE_CYCLES = 7  # SDIV/UDIV: 2 to 12 cycles, data dependent; the middle of the range

# What each instruction class costs (documentation; ``instruction_cycles`` implements it).
CYCLES = {
    "data processing, move, compare, shift, bitfield, extend, saturate, IT, NOP": "1",
    "MUL, MLA, MLS, SMULL, UMULL, SMLAL, UMLAL, DSP multiply (SMLAD, SMLABB, ...)": "1",
    "SDIV, UDIV": f"{DIVIDE_CYCLES} (2 to 12, data dependent)",
    "single load LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX": "2 (back-to-back pipelining "
                                                        "to 1 not modelled)",
    "single store STR, STRB, STRH, STREX": "1",
    "LDRD, STRD": "3 (1 + N, N = 2)",
    "LDM, STM, PUSH, POP": "1 + N (N registers)",
    "TBB, TBH": "2",
    "branch B, BL, BX, BLX, CBZ, CBNZ": "1",
    "taken branch or other write to PC": f"+{BRANCH_PENALTY} (P: pipeline refill)",
    "VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCMP, VCVT, VMOV, VMRS, VMSR": "1",
    "VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS": "3",
    "VDIV, VSQRT": "14",
    "VLDR, VSTR": "2 (single precision), 3 (double)",
    "VLDM, VSTM, VPUSH, VPOP": "1 + N (N words)",
    "VMOV between two core registers and a double or two singles": "2",
    "anything else": "1",
}

_LOADS = {"LDR", "LDRB", "LDRH", "LDRSB", "LDRSH", "LDRT", "LDRBT", "LDRHT", "LDRSBT",
          "LDRSHT", "LDREX", "LDREXB", "LDREXH", "LDA", "LDAB", "LDAH", "LDAEX"}
_STORES = {"STR", "STRB", "STRH", "STRT", "STRBT", "STRHT", "STREX", "STREXB", "STREXH",
           "STL", "STLB", "STLH"}
_MULTIPLE_BASE = {"LDM", "LDMDA", "LDMDB", "LDMIB", "STM", "STMDA", "STMDB", "STMIB"}
_MULTIPLE = {"PUSH", "POP"}
_VFP_MULTIPLE_BASE = {"VLDMIA", "VLDMDB", "VSTMIA", "VSTMDB"}
_VFP_MULTIPLE = {"VPUSH", "VPOP"}
_VFP3 = {"VMLA", "VMLS", "VNMLA", "VNMLS", "VFMA", "VFMS", "VFNMA", "VFNMS"}
_VFP14 = {"VDIV", "VSQRT"}
_FIXED = {"LDRD": 3, "STRD": 3, "TBB": 2, "TBH": 2, "SDIV": DIVIDE_CYCLES,
          "UDIV": DIVIDE_CYCLES, **{n: 3 for n in _VFP3}, **{n: 14 for n in _VFP14}}


class Timing:
    """Decodes Thumb code with capstone: instructions and estimated cycles of a block."""

    def __init__(self, mclass: bool = True) -> None:
        import capstone
        import capstone.arm as arm

        mode = capstone.CS_MODE_THUMB | (capstone.CS_MODE_MCLASS if mclass else 0)
        self._cs = capstone.Cs(capstone.CS_ARCH_ARM, mode)
        self._cs.detail = True
        self._reg = arm.ARM_OP_REG

        def ids(names: set[str]) -> set[int]:
            return {getattr(arm, f"ARM_INS_{n}") for n in names if hasattr(arm, f"ARM_INS_{n}")}

        self._loads, self._stores = ids(_LOADS), ids(_STORES)
        self._multiple_base, self._multiple = ids(_MULTIPLE_BASE), ids(_MULTIPLE)
        self._vfp_multiple_base = ids(_VFP_MULTIPLE_BASE)
        self._vfp_multiple = ids(_VFP_MULTIPLE)
        self._fixed = {getattr(arm, f"ARM_INS_{n}"): c for n, c in _FIXED.items()
                       if hasattr(arm, f"ARM_INS_{n}")}
        self._vldr = ids({"VLDR", "VSTR"})
        self._vmov = ids({"VMOV"})

    def instruction_cycles(self, insn) -> int:
        i = insn.id
        if i in self._loads:
            return 2
        if i in self._stores:
            return 1
        fixed = self._fixed.get(i)
        if fixed is not None:
            return fixed
        if i in self._multiple_base or i in self._multiple:
            regs = sum(1 for op in insn.operands if op.type == self._reg)
            return 1 + regs - (1 if i in self._multiple_base else 0)
        if i in self._vfp_multiple_base or i in self._vfp_multiple:
            ops = insn.operands[1:] if i in self._vfp_multiple_base else insn.operands
            return 1 + sum(self._words(op) for op in ops if op.type == self._reg)
        if i in self._vldr:
            return 1 + self._words(insn.operands[0])
        if i in self._vmov:
            return 2 if len(insn.operands) >= 3 else 1
        return 1

    def _words(self, op) -> int:
        return 2 if self._cs.reg_name(op.reg).startswith("d") else 1

    def block(self, code: bytes, address: int) -> tuple[int, int]:
        """(instructions, cycles) of the Thumb code at ``address``, taken branches aside."""
        n = cycles = 0
        offset = 0
        while offset < len(code):
            decoded = False
            for insn in self._cs.disasm(code[offset:], address + offset):
                n += 1
                cycles += self.instruction_cycles(insn)
                offset += insn.size
                decoded = True
            if offset < len(code) and not decoded:  # capstone gave up: count it by length
                first = code[offset] | (code[offset + 1] << 8) if offset + 1 < len(code) else 0
                offset += 4 if (first >> 11) in (0b11101, 0b11110, 0b11111) else 2
                n += 1
                cycles += 1
        return n, cycles


def cost_model(regions: list[dict]) -> dict:
    """The parameters of the estimate, for the report."""
    return {
        "name": "cortex-m4 timing table",
        "source": "Cortex-M4 Technical Reference Manual r0p1, Table 3-1 and Table 7-1 "
                  "(zero wait states), simplified",
        "instruction_cycles": CYCLES,
        "taken_branch_penalty": BRANCH_PENALTY,
        "divide_cycles": DIVIDE_CYCLES,
        "data_read_wait_states": {r["name"]: r["wait_states"] for r in regions},
        "instruction_fetch_wait_states": 0,
        "notes": [
            "cycles_estimate is an estimate, instructions are exact",
            "instruction fetches are assumed to hit a flash accelerator or cache: no wait "
            "states",
            "every data read access (LDR/LDRB/LDRH, each word of LDM/LDRD/VLDM) from a region "
            "adds that region's wait states",
            "not modelled: load/store pipelining, data-dependent division time, variable "
            "pipeline refill, bus contention, flash prefetch buffers",
            "conditional instructions skipped inside an IT block are charged as executed",
            "the same table is used for every Cortex-M target",
        ],
    }
