// Replaced by the engine's sources.
#include "tpu_llm_engine.h"
