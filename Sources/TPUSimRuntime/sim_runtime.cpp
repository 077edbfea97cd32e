#include "sim_runtime.h"

#include "bmodel_file.h"
#include "diagnostics.h"

#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <set>

namespace tpusim {
namespace {

std::string hex(uint64_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

} // namespace

SimRuntime::SimRuntime(std::shared_ptr<Device> device) : device_(std::move(device)) {
    const char *free_nets = std::getenv("TPU_SIM_FREE_NETS");
    free_nets_ = free_nets != nullptr && std::strcmp(free_nets, "1") == 0;
}

SimRuntime::~SimRuntime() {
    for (const auto &taken : reservations_) device_->release(taken.first, taken.second);
}

bool SimRuntime::load(const std::string &path) {
    BMRT_LOG_IN("load_bmodel", "INFO", "Loading bmodel from [" + path + "]. Thanks for your patience...");
    std::string error;
    std::unique_ptr<BmodelFile> file = BmodelFile::open(path, error);
    auto fail = [&](const std::string &text) {
        BMRT_LOG_IN("load_bmodel", "WRONG", text);
        return false;
    };
    if (file == nullptr) {
        BMODEL_FATAL(error); // like ModelCtx, whose exception bmrt_load_bmodel turns into false without a word
        return false;
    }
    const ModelDescription &model = file->model();
    if (!chip_is_bm1684x(model.chip))
        return fail("Error: runtime arch[BM1684X] is not the same with bmodel arch[" + model.chip + "]");
    BMRT_LOG_IN("load_bmodel", "INFO", "Bmodel loaded, version " + model.version);

    // Every net must be a sim net, new, and valid before anything is accounted.
    std::set<std::string> names;
    for (const auto &net : nets_) names.insert(net->name);
    std::vector<std::unique_ptr<Net>> loaded;
    for (const NetDescription &description : model.nets) {
        if (!names.insert(description.name).second) return fail("net " + description.name + " is already loaded");
        auto net = std::make_unique<Net>();
        net->name = description.name;
        for (const StageDescription &stage : description.stages)
            if (!stage_is_sim(description.name, stage, error)) return fail(error);
        net->info = NetInfo::make(description, error);
        if (net->info == nullptr) return fail(error);
        for (const StageDescription &stage : description.stages) {
            SimStage sim;
            if (!describe_sim_stage(description.name, stage, *file, sim, error)) return fail(error);
            net->stages.push_back(std::move(sim));
        }
        loaded.push_back(std::move(net));
    }

    // Device memory like bmrt on a single-core chip (bmruntime_bmodel.cpp), net by net in file order: one
    // allocation per distinct coefficient range (BmCoeff::Register), then the shared neuron block, re-allocated
    // larger (the old one kept) when this net's stages need more than the largest so far (update_max_neuron_mem).
    // Each allocation goes to the first heap with room (heap mask 7); the neuron area stays virtual.
    struct Planned {
        uint64_t bytes;
        bool coefficients;
    };
    std::vector<Planned> plan;
    std::set<std::pair<uint64_t, uint64_t>> ranges;
    uint64_t neuron_block = neuron_block_;
    for (size_t index = 0; index < loaded.size(); index++) {
        for (const SimStage &stage : loaded[index]->stages) {
            std::pair<uint64_t, uint64_t> range{stage.coeff_start, stage.coeff_size};
            if (coefficients_.count(range) == 0 && ranges.insert(range).second && stage.coeff_size > 0)
                plan.push_back({stage.coeff_size, true});
        }
        uint64_t largest = 0;
        for (const StageDescription &stage : model.nets[index].stages) largest = std::max(largest, stage.ctx_size);
        if (largest > neuron_block) {
            plan.push_back({largest, false});
            neuron_block = largest;
        }
    }
    std::vector<std::pair<int, uint64_t>> reserved;
    for (const Planned &item : plan) {
        int heap = device_->reserve(item.bytes);
        if (heap >= 0) {
            reserved.push_back({heap, item.bytes});
            continue;
        }
        for (const auto &taken : reserved) device_->release(taken.first, taken.second);
        // libsophon's own words and nothing else (the engine adds bm_get_stat's figures to its error).
        BMLIB_LOG("error", alloc_gmem_failure(device_->id(), item.bytes));
        if (item.coefficients) {
            BMRT_LOG_IN("Register", "FATAL", "coeff alloc failed, size[" + hex_size(item.bytes) + "]");
        } else {
            char text[160];
            std::snprintf(text, sizeof text, "device mem alloc failed: size=%llu[0x%x] type_len=1 status=%d desc=neuron_mem0",
                          static_cast<unsigned long long>(item.bytes), unsigned(item.bytes), int(BM_ERR_NOMEM));
            BMRT_LOG_IN("must_alloc_device_mem_u64", "FATAL", text);
        }
        return false;
    }
    reservations_.insert(reservations_.end(), reserved.begin(), reserved.end());
    neuron_block_ = neuron_block;

    // Coefficients as aligned host floats, one copy per distinct range.
    for (const auto &range : ranges) {
        const uint8_t *bytes = file->blob(range.first, range.second);
        auto floats = std::make_shared<std::vector<float>>(range.second / 4);
        std::memcpy(floats->data(), bytes, range.second);
        coefficients_[range] = std::move(floats);
    }
    for (auto &net : loaded) {
        for (SimStage &stage : net->stages) stage.coefficients = coefficients_.at({stage.coeff_start, stage.coeff_size});
        nets_.push_back(std::move(net));
    }
    return true;
}

const SimRuntime::Net *SimRuntime::find(const std::string &name) const {
    for (const auto &net : nets_)
        if (net->name == name) return net.get();
    return nullptr;
}

const bm_net_info_t *SimRuntime::net_info(const std::string &name) const {
    const Net *net = find(name);
    return net == nullptr ? nullptr : net->info->info();
}

bool SimRuntime::launch(const char *net_name, const bm_tensor_t inputs[], int input_num, bm_tensor_t outputs[],
                        int output_num, bool user_mem) {
    auto fail = [&](const std::string &text) {
        BMRT_LOG_IN("launch_tensor_ex", "WRONG", text);
        return false;
    };
    if (net_name == nullptr) return fail("net name is null");
    const Net *net = find(net_name);
    if (net == nullptr) return fail(std::string("net ") + net_name + " is not loaded");
    const bm_net_info_t *info = net->info->info();
    if (input_num != info->input_num || output_num != info->output_num)
        return fail("net " + net->name + ": launched with " + std::to_string(input_num) + " inputs and " +
                    std::to_string(output_num) + " outputs, the net has " + std::to_string(info->input_num) + " and " +
                    std::to_string(info->output_num));
    if ((input_num > 0 && inputs == nullptr) || (output_num > 0 && outputs == nullptr))
        return fail("net " + net->name + ": null tensor array");

    // The stage whose input shapes match (static nets: exactly).
    int stage_index = -1;
    for (int s = 0; s < info->stage_num && stage_index < 0; s++) {
        bool same = true;
        for (int i = 0; i < input_num && same; i++) same = shapes_equal(inputs[i].shape, net->info->input_shape(size_t(s), size_t(i)));
        if (same) stage_index = s;
    }
    if (stage_index < 0) {
        for (int i = 0; i < input_num; i++)
            if (!shapes_equal(inputs[i].shape, net->info->input_shape(0, size_t(i))))
                return fail("net " + net->name + ": input " + std::to_string(i) + " (" + info->input_names[i] +
                            ") has shape " + shape_text(inputs[i].shape) + ", the net expects " +
                            shape_text(net->info->input_shape(0, size_t(i))));
        return fail("net " + net->name + ": the input shapes match no stage");
    }
    for (int i = 0; i < input_num; i++) {
        if (inputs[i].dtype != info->input_dtypes[i])
            return fail("net " + net->name + ": input " + std::to_string(i) + " (" + info->input_names[i] +
                        ") has dtype " + std::to_string(inputs[i].dtype) + ", the net expects " +
                        std::to_string(info->input_dtypes[i]));
        uint64_t bytes = shape_count(inputs[i].shape) * data_type_size(inputs[i].dtype);
        if (inputs[i].device_mem.size < bytes ||
            device_->resolve(inputs[i].device_mem.u.device.device_addr, bytes) == nullptr)
            return fail("net " + net->name + ": input " + std::to_string(i) + " (" + info->input_names[i] +
                        ") device memory " + hex(inputs[i].device_mem.u.device.device_addr) + " (" +
                        std::to_string(inputs[i].device_mem.size) + " bytes) does not hold " +
                        std::to_string(bytes) + " bytes");
    }
    std::vector<bm_device_mem_t> allocated;
    auto release_allocated = [&] {
        for (const bm_device_mem_t &memory : allocated) device_->free(memory);
    };
    for (int i = 0; i < output_num; i++) {
        const bm_shape_t &shape = net->info->output_shape(size_t(stage_index), size_t(i));
        uint64_t bytes = shape_count(shape) * data_type_size(info->output_dtypes[i]);
        if (user_mem) {
            if (outputs[i].device_mem.size < bytes ||
                device_->resolve(outputs[i].device_mem.u.device.device_addr, bytes) == nullptr)
                return fail("net " + net->name + ": output " + std::to_string(i) + " (" + info->output_names[i] +
                            ") device memory " + hex(outputs[i].device_mem.u.device.device_addr) + " (" +
                            std::to_string(outputs[i].device_mem.size) + " bytes) cannot hold " +
                            std::to_string(bytes) + " bytes");
        } else {
            bm_device_mem_t memory;
            if (bytes > UINT32_MAX || device_->allocate(uint32_t(bytes), &memory) != BM_SUCCESS) {
                release_allocated();
                return fail("net " + net->name + ": bm_malloc_device_byte failed for output " + std::to_string(i) +
                            " (" + std::to_string(bytes) + " bytes), BM_ERR_NOMEM");
            }
            allocated.push_back(memory);
        }
    }
    std::vector<bm_device_mem_t> output_memory;
    for (int i = 0; i < output_num; i++) output_memory.push_back(user_mem ? outputs[i].device_mem : allocated[size_t(i)]);
    std::string error;
    if (!execute(net->stages[size_t(stage_index)], *net->info, size_t(stage_index), inputs, output_memory, error)) {
        release_allocated();
        return fail("net " + net->name + ": " + error);
    }
    for (int i = 0; i < output_num; i++) {
        outputs[i].device_mem = output_memory[size_t(i)];
        outputs[i].dtype = info->output_dtypes[i];
        outputs[i].shape = net->info->output_shape(size_t(stage_index), size_t(i));
        outputs[i].st_mode = BM_STORE_1N;
    }
    return true;
}

// Runs the op on host views of the inputs into the workspace, then copies the results to the outputs (which may
// alias the inputs).
bool SimRuntime::execute(const SimStage &stage, const NetInfo &info, size_t stage_index, const bm_tensor_t inputs[],
                         const std::vector<bm_device_mem_t> &outputs, std::string &error) {
    const bm_net_info_t *head = info.info();
    std::vector<const void *> in(size_t(head->input_num));
    for (size_t i = 0; i < in.size(); i++)
        in[i] = device_->resolve(inputs[i].device_mem.u.device.device_addr,
                                 shape_count(inputs[i].shape) * data_type_size(inputs[i].dtype));
    std::vector<uint8_t *> out(outputs.size());
    std::vector<size_t> out_bytes(outputs.size());
    for (size_t i = 0; i < outputs.size(); i++) {
        out_bytes[i] = size_t(shape_count(info.output_shape(stage_index, i)) * data_type_size(head->output_dtypes[i]));
        out[i] = device_->resolve(outputs[i].u.device.device_addr, out_bytes[i]);
        if (out[i] == nullptr) {
            error = "output " + std::to_string(i) + " memory vanished";
            return false;
        }
    }
    if (free_nets_) { // validated; the math is skipped (host-overhead benchmarks)
        for (size_t i = 0; i < out.size(); i++) std::memset(out[i], 0, out_bytes[i]);
        return true;
    }
    Workspace &ws = workspace_;
    const float *results[3] = {nullptr, nullptr, nullptr};
    if (stage.params.layout == SimLayout::wizardcoder && stage.params.op != SimOp::lm_head) {
        // Inputs by position: embedding (ids, positions), block (states, mask), cache block (state, past, mask).
        switch (stage.params.op) {
        case SimOp::embedding:
            if (!run_wizardcoder_embedding(stage, static_cast<const int32_t *>(in[0]), static_cast<const int32_t *>(in[1]),
                                           ws, error))
                return false;
            results[0] = ws.out_hidden.data();
            break;
        case SimOp::prompt_block:
            run_wizardcoder_prompt_block(stage, static_cast<const float *>(in[0]), static_cast<const float *>(in[1]), ws);
            results[0] = ws.out_hidden.data();
            results[1] = ws.out_k.data();
            break;
        case SimOp::cache_block:
            run_wizardcoder_cache_block(stage, static_cast<const float *>(in[0]), static_cast<const float *>(in[1]),
                                        static_cast<const float *>(in[2]), ws);
            results[0] = ws.out_hidden.data();
            results[1] = ws.out_k.data();
            break;
        case SimOp::lm_head:
        case SimOp::greedy_head:
        case SimOp::penalty_sample_head: break; /* llama2 layout only (sim_stage.cpp) */
        }
        for (size_t i = 0; i < out.size() && i < 2; i++) std::memcpy(out[i], results[i], out_bytes[i]);
        return true;
    }
    /* A bfloat16 mask (Qwen2) is widened to fp32: its upper 16 bits. */
    std::vector<float> widened_mask;
    const bool block = stage.params.op == SimOp::prompt_block || stage.params.op == SimOp::cache_block;
    if (block && stage.params.bf16_mask) {
        const size_t count = size_t(shape_count(inputs[2].shape));
        const uint16_t *bits = static_cast<const uint16_t *>(in[2]);
        widened_mask.resize(count);
        for (size_t i = 0; i < count; i++) {
            const uint32_t wide = uint32_t(bits[i]) << 16;
            std::memcpy(&widened_mask[i], &wide, sizeof wide);
        }
        in[2] = widened_mask.data();
    }
    switch (stage.params.op) {
    case SimOp::embedding:
        if (!run_embedding(stage, static_cast<const int32_t *>(in[0]), ws, error)) return false;
        results[0] = ws.out_hidden.data();
        break;
    case SimOp::prompt_block:
        run_prompt_block(stage, static_cast<const float *>(in[0]), static_cast<const int32_t *>(in[1]),
                         static_cast<const float *>(in[2]), ws);
        results[0] = ws.out_hidden.data();
        results[1] = ws.out_k.data();
        results[2] = ws.out_v.data();
        break;
    case SimOp::cache_block:
        run_cache_block(stage, static_cast<const float *>(in[0]), static_cast<const int32_t *>(in[1]),
                        static_cast<const float *>(in[2]), static_cast<const float *>(in[3]),
                        static_cast<const float *>(in[4]), ws);
        results[0] = ws.out_hidden.data();
        results[1] = ws.out_k.data();
        results[2] = ws.out_v.data();
        break;
    case SimOp::lm_head:
        run_lm_head(stage, static_cast<const float *>(in[0]), ws);
        if (stage.params.argmax_output) {
            std::memcpy(out[0], &ws.token, sizeof ws.token);
            return true;
        }
        results[0] = ws.logits.data();
        break;
    case SimOp::greedy_head: {
        const int32_t token = run_greedy_head(stage, static_cast<const float *>(in[0]));
        std::memcpy(out[0], &token, sizeof token);
        return true;
    }
    case SimOp::penalty_sample_head: {
        float scalars[3];
        for (size_t i = 0; i < 3; i++) std::memcpy(&scalars[i], in[2 + i], sizeof(float));
        std::vector<float> probs(kPenaltySampleTopK);
        std::vector<int32_t> tokens(kPenaltySampleTopK);
        run_penalty_sample_head(stage, static_cast<const float *>(in[0]), static_cast<const int32_t *>(in[1]), scalars[0],
                                scalars[1], scalars[2], probs.data(), tokens.data(), ws);
        std::memcpy(out[0], probs.data(), out_bytes[0]);
        std::memcpy(out[1], tokens.data(), out_bytes[1]);
        return true;
    }
    }
    for (size_t i = 0; i < out.size() && i < 3; i++) std::memcpy(out[i], results[i], out_bytes[i]);
    return true;
}

} // namespace tpusim
