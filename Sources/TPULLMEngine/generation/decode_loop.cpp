#include "decode_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "../text/utf8_stream.h"
#include "sampler.h"
#include "stop_strings.h"

namespace tpu {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

}  // namespace

GenerationResult run_decode_loop(DecodeContext &context, const std::vector<int> &prompt_ids,
                                 const SamplingOptions &options, const TextCallback &on_text) {
    const int S = context.seq_len;
    const int length = int(prompt_ids.size());
    if (length == 0) throw EngineError(EngineError::Kind::input, "the prompt is empty");
    if (length >= S)
        throw EngineError(EngineError::Kind::context, "the prompt has " + std::to_string(length) +
                                                          " tokens but the model's context holds " + std::to_string(S) +
                                                          " (prompt and answer together)");
    for (int id : prompt_ids)
        if (id < 0 || (context.vocab_rows > 0 && id >= context.vocab_rows))
            throw EngineError(EngineError::Kind::input, "token id " + std::to_string(id) + " is outside the vocabulary");

    GenerationResult result;
    result.prompt_ids = prompt_ids;
    Sampler sampler(options.temperature, options.top_p, options.seed);
    Utf8TextStream stream(context.tokenizer);
    StopStringFilter stops(options.stop);
    const std::vector<int> stop_ids = context.stop_ids.empty() ? std::vector<int>{context.tokenizer.eos_id()} : context.stop_ids;

    auto deliver = [&](const std::string &text) {
        if (text.empty()) return true;
        result.text += text;
        return !on_text || on_text(text);
    };

    const Clock::time_point start = Clock::now();
    Clock::time_point first_token_time = start;
    NextTokenOutput output = context.runner.prompt(prompt_ids);
    bool finished_cleanly = false;
    for (;;) {
        int token;
        if (output.is_token) {
            token = output.token;
            if (!sampler.greedy() && !context.warned_device_sampling) {
                std::fprintf(stderr, "tpu-llm-engine: note: this model's lm_head picks the token on the device; "
                                     "temperature and top_p are ignored\n");
                context.warned_device_sampling = true;
            }
        } else {
            token = sampler.sample(output.logits);
        }
        if (result.tokens.empty()) first_token_time = Clock::now();
        if (std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end()) {
            result.stop_reason = StopReason::eos;
            finished_cleanly = true;
            break;
        }
        result.tokens.push_back(token);
        StopStringFilter::Output shown = stops.push(stream.push(token));
        if (!deliver(shown.text)) {
            result.stop_reason = StopReason::cancelled;
            break;
        }
        if (shown.stopped) {
            result.stop_reason = StopReason::stop;
            break;
        }
        /* The context is full once prompt and answer fill SEQLEN (like the LLM-TPU runners). */
        const int token_length = length + int(result.tokens.size()); /* with the new token fed */
        if ((options.max_tokens >= 0 && int(result.tokens.size()) >= options.max_tokens) || token_length >= S) {
            result.stop_reason = StopReason::length;
            finished_cleanly = true;
            break;
        }
        output = context.runner.next(token, token_length);
    }
    if (finished_cleanly) {
        StopStringFilter::Output rest = stops.push(stream.flush());
        std::string tail = rest.text + (rest.stopped ? std::string() : stops.flush());
        if (rest.stopped) result.stop_reason = StopReason::stop;
        if (!deliver(tail)) result.stop_reason = StopReason::cancelled;
    }
    const Clock::time_point end = Clock::now();
    result.time_to_first_token_seconds = seconds_between(start, first_token_time);
    double decode_seconds = seconds_between(first_token_time, end);
    if (result.tokens.size() > 1 && decode_seconds > 0)
        result.decode_tokens_per_second = double(result.tokens.size() - 1) / decode_seconds;
    return result;
}

}  // namespace tpu
