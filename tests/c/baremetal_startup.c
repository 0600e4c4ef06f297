/* A minimal Cortex-M startup for the link test: vector table, .data copy, .bss clear. */
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);
void Reset_Handler(void);

__attribute__((section(".isr_vector"), used))
static void (*const vectors[2])(void) = {(void (*)(void))_estack, Reset_Handler};

void Reset_Handler(void) {
  uint32_t *src = _sidata, *dst = _sdata;
  while (dst < _edata) *dst++ = *src++;
  for (dst = _sbss; dst < _ebss; ++dst) *dst = 0;
  (void)main();
  for (;;) {
  }
}
