// Replaced by the simulated runtime's sources.
#include "tpu_sim_runtime.h"
