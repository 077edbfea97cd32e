#include "transformer_runner.h"

#include "tpu_llm_engine.h"

namespace tpu {

std::unique_ptr<TransformerRunner> make_runner(RuntimeSession &session, const NetCatalog &catalog) {
    switch (net_layout_family(catalog.family)) {
    case ModelFamily::chatglm2: return make_chatglm2_runner(session, catalog);
    case ModelFamily::llama2: return make_llama2_runner(session, catalog);
    case ModelFamily::wizardcoder: return make_wizardcoder_runner(session, catalog);
    case ModelFamily::smollm2:
    case ModelFamily::qwen2: break; /* net_layout_family never returns it */
    }
    throw EngineError(EngineError::Kind::load, "no runner for this model family");
}

}  // namespace tpu
