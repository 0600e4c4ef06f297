"""The emitted linker fragment places the model where report.json says: a bare-metal
firmware (startup + main calling <name>_init and <name>_invoke) for a Cortex-M4 with
256 KB SRAM and 1 MB flash links with it, and the map file puts the arena and the pinned
weights in SRAM (the pinned weights loaded from flash) and the other weights in flash."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backends.c.driver import compile_model
from compiler.cli import load_model

pytestmark = pytest.mark.slow  # C builds with sanitizers: `make test-fast` skips them

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
C = Path(__file__).resolve().parent / "c"
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
         "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffreestanding", "-ffunction-sections",
         "-fdata-sections"]


def link(outdir: Path, name: str, tmp: Path) -> dict[str, tuple[int, int]]:
    """Link the firmware; the map's output sections: name -> (address, load address)."""
    shutil.copy(outdir / f"{name}_sections.ld", tmp / "model_sections.ld")
    (tmp / "main.c").write_text(f'#include "{name}.h"\nint main(void) {{\n'
                                f"  {name}_init();\n  return {name}_invoke();\n}}\n")
    srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
    elf = tmp / "fw.elf"
    cmd = ["arm-none-eabi-gcc", *FLAGS, f"-I{outdir}", *srcs, str(tmp / "main.c"),
           str(C / "baremetal_startup.c"), "-nostartfiles", "-T", str(C / "baremetal.ld"),
           f"-L{tmp}", "-Wl,--gc-sections", f"-Wl,-Map={tmp / 'fw.map'}",
           "--specs=nano.specs", "--specs=nosys.specs", "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m:
            sections[m.group(1)] = (int(m.group(3), 16), int(m.group(4), 16), int(m.group(2), 16))
    return sections


def inside(addr: int, size: int, region: dict) -> bool:
    return region["base"] <= addr and addr + size <= region["base"] + region["size"]


@pytest.mark.parametrize("pin", ["none", "all", "hot"])
def test_firmware_links_with_the_fragment(pin, tmp_path):
    out = tmp_path / "out"
    compile_model(load_model(str(MODELS / "kws_int8.tflite")), out, "kws", "cortex-m4",
                  source="kws_int8.tflite", pin=pin, pin_budget=20000)
    report = json.loads((out / "report.json").read_text())
    place = report["placement"]
    regions = {r["name"]: r for r in place["regions"]}
    sections = link(out, "kws", tmp_path)
    vma, lma, size = sections[".edgeir_kws_arena"]
    assert size == place["arena"]["bytes"] and inside(vma, size, regions["SRAM"])
    if pin == "all":  # the weights and their requantization tables: nothing left in flash
        assert place["weights"]["bytes"] == 0
        assert sections.get(".edgeir_kws_weights", (0, 0, 0))[2] == 0
    else:
        vma, lma, size = sections[".edgeir_kws_weights"]
        assert inside(vma, size, regions["FLASH"])
        assert place["weights"]["bytes"] <= size < place["weights"]["bytes"] + 64 * 16
    if pin == "none":
        assert sections.get(".edgeir_kws_pinned", (0, 0, 0))[2] == 0
        return
    vma, lma, size = sections[".edgeir_kws_pinned"]
    assert place["pinned"]["bytes"] > 0 and size >= place["pinned"]["bytes"]
    assert inside(vma, size, regions["SRAM"]) and inside(lma, size, regions["FLASH"])
    if pin == "hot":
        assert place["pinned"]["bytes"] <= 20000 and place["weights"]["bytes"] > 0
