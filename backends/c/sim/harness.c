/* The bare-metal harness of `edgeir run --engine sim` (backends/c/sim): reset code and a
   loop that runs the model once per sample. The emulator hooks the entry of the noipa
   functions below by their ELF symbols:
     edgeir_sim_ready()    writes the next sample's inputs at edgeir_sim_in[i] (or clears
                           edgeir_sim_more when no sample is left); counting starts here,
     edgeir_sim_layer(k)   the generated EDGEIR_LAYER(k) hook: a per-layer snapshot,
     edgeir_sim_done()     reads the outputs at edgeir_sim_out[i]; counting stops here,
     edgeir_sim_exit()     where the emulation ends.
   Compiled with -DEDGEIR_SIM_HEADER='"<name>.h"', -DEDGEIR_SIM_NAME=<name>,
   -DEDGEIR_SIM_UPPER=<NAME> and -include edgeir_sim.h. */
#include <stdint.h>
#include EDGEIR_SIM_HEADER

#define EDGEIR_SIM_CAT2(a, b) a##b
#define EDGEIR_SIM_CAT(a, b) EDGEIR_SIM_CAT2(a, b)
#define MODEL(suffix) EDGEIR_SIM_CAT(EDGEIR_SIM_NAME, suffix)
#define MODEL_UP(suffix) EDGEIR_SIM_CAT(EDGEIR_SIM_UPPER, suffix)
#define NUM_INPUTS MODEL_UP(_NUM_INPUTS)
#define NUM_OUTPUTS MODEL_UP(_NUM_OUTPUTS)

/* Read by the emulator after edgeir_sim_ready() is entered (the pointers are set once). */
void *edgeir_sim_in[NUM_INPUTS > 0 ? NUM_INPUTS : 1];
void *edgeir_sim_out[NUM_OUTPUTS > 0 ? NUM_OUTPUTS : 1];
volatile int32_t edgeir_sim_more;     /* set by the emulator in edgeir_sim_ready */
volatile int32_t edgeir_sim_status;   /* what <name>_invoke returned */

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
void edgeir_sim_reset(void);

/* The vector table (initial stack pointer, reset) at the start of the code region, as in a
   firmware; the emulator sets SP and starts at edgeir_sim_reset itself. */
__attribute__((section(".isr_vector"), used))
static void (*const edgeir_sim_vectors[2])(void) = {(void (*)(void))_estack, edgeir_sim_reset};

/* noipa: never inlined, merged or assumed to leave memory alone (the emulator writes it). */
__attribute__((noipa)) void edgeir_sim_ready(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noipa)) void edgeir_sim_done(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noipa)) void edgeir_sim_layer(int k) { __asm__ volatile("" : : "r"(k) : "memory"); }
__attribute__((noipa, noreturn)) void edgeir_sim_exit(void) {
  for (;;) __asm__ volatile("" ::: "memory");
}

void edgeir_sim_reset(void) {
  uint32_t *src = _sidata, *dst = _sdata;
  int i;
  while (dst < _edata) *dst++ = *src++;
  for (dst = _sbss; dst < _ebss; ++dst) *dst = 0;
  for (i = 0; i < NUM_INPUTS; ++i) edgeir_sim_in[i] = MODEL(_input)(i);
  for (i = 0; i < NUM_OUTPUTS; ++i) edgeir_sim_out[i] = MODEL(_output)(i);
  MODEL(_init)();
  for (;;) {
    edgeir_sim_ready();
    if (!edgeir_sim_more) break;
    edgeir_sim_status = MODEL(_invoke)();
    edgeir_sim_done();
  }
  edgeir_sim_exit();
}
