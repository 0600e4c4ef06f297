/* Declares the profiling hook the sim engine's build defines EDGEIR_LAYER(k) to
   (-DEDGEIR_LAYER(k)=edgeir_sim_layer(k), this file through -include). */
#ifndef EDGEIR_SIM_H
#define EDGEIR_SIM_H
void edgeir_sim_layer(int k);
#endif
