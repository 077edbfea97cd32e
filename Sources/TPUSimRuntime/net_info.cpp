#include "net_info.h"

#include <climits>
#include <cstddef>

namespace tpusim {

static_assert(offsetof(NetInfoLayout, max_input_bytes) == 88, "bm_net_info_t layout (libsophon@main)");
static_assert(sizeof(NetInfoLayout) == 144, "bm_net_info_t layout (libsophon@main)");
static_assert(sizeof(StageInfoLayout) == 32, "bm_stage_info_t layout (libsophon@main)");

size_t data_type_size(uint32_t data_type) {
    switch (data_type) {
    case BM_FLOAT32: case BM_INT32: case BM_UINT32: return 4;
    case BM_FLOAT16: case BM_INT16: case BM_UINT16: case BM_BFLOAT16: return 2;
    case BM_INT8: case BM_UINT8: case BM_INT4: case BM_UINT4: return 1;
    default: return 0;
    }
}

uint64_t shape_count(const bm_shape_t &shape) {
    uint64_t count = 1;
    for (int i = 0; i < shape.num_dims && i < BM_MAX_DIMS_NUM; i++) count *= uint64_t(shape.dims[i] < 0 ? 0 : shape.dims[i]);
    return count;
}

bool shapes_equal(const bm_shape_t &left, const bm_shape_t &right) {
    if (left.num_dims != right.num_dims) return false;
    for (int i = 0; i < left.num_dims && i < BM_MAX_DIMS_NUM; i++)
        if (left.dims[i] != right.dims[i]) return false;
    return true;
}

std::string shape_text(const bm_shape_t &shape) {
    if (shape.num_dims < 0 || shape.num_dims > BM_MAX_DIMS_NUM) return "[invalid: " + std::to_string(shape.num_dims) + " dims]";
    std::string text = "[";
    for (int i = 0; i < shape.num_dims; i++) text += (i ? ", " : "") + std::to_string(shape.dims[i]);
    return text + "]";
}

namespace {

bool to_shape(const TensorDescription &tensor, bm_shape_t &shape, const std::string &net, std::string &error) {
    shape = bm_shape_t{};
    shape.num_dims = int(tensor.dims.size());
    for (size_t i = 0; i < tensor.dims.size(); i++) {
        if (tensor.dims[i] > uint64_t(INT_MAX)) {
            error = "net " + net + ": tensor " + tensor.name + " has a dimension too large for bm_shape_t";
            return false;
        }
        shape.dims[i] = int(tensor.dims[i]);
    }
    return true;
}

} // namespace

std::unique_ptr<NetInfo> NetInfo::make(const NetDescription &net, std::string &error) {
    if (net.stages.empty()) {
        error = "net " + net.name + " has no stage (NetParameter)";
        return nullptr;
    }
    std::unique_ptr<NetInfo> result(new NetInfo());
    NetInfo &info = *result;
    const StageDescription &first = net.stages[0];
    size_t inputs = first.inputs.size(), outputs = first.outputs.size();
    info.name_ = net.name;
    for (const TensorDescription &tensor : first.inputs) {
        info.strings_.push_back(tensor.name);
        info.input_names_.push_back(info.strings_.back().c_str());
        info.input_dtypes_.push_back(bm_data_type_t(tensor.data_type));
        info.input_scales_.push_back(tensor.scale);
        info.input_zero_points_.push_back(tensor.zero_point);
    }
    for (const TensorDescription &tensor : first.outputs) {
        info.strings_.push_back(tensor.name);
        info.output_names_.push_back(info.strings_.back().c_str());
        info.output_dtypes_.push_back(bm_data_type_t(tensor.data_type));
        info.output_scales_.push_back(tensor.scale);
        info.output_zero_points_.push_back(tensor.zero_point);
    }
    info.max_input_bytes_.assign(inputs, 0);
    info.max_output_bytes_.assign(outputs, 0);
    info.input_devices_.assign(inputs, 0);
    info.output_devices_.assign(outputs, 0);
    for (size_t s = 0; s < net.stages.size(); s++) {
        const StageDescription &stage = net.stages[s];
        if (stage.inputs.size() != inputs || stage.outputs.size() != outputs) {
            error = "net " + net.name + ": stage " + std::to_string(s) + " has a different number of tensors";
            return nullptr;
        }
        std::vector<bm_shape_t> in(inputs), out(outputs);
        for (size_t i = 0; i < inputs; i++) {
            if (!to_shape(stage.inputs[i], in[i], net.name, error)) return nullptr;
            size_t bytes = size_t(shape_count(in[i]) * data_type_size(stage.inputs[i].data_type));
            if (bytes > info.max_input_bytes_[i]) info.max_input_bytes_[i] = bytes;
        }
        for (size_t i = 0; i < outputs; i++) {
            if (!to_shape(stage.outputs[i], out[i], net.name, error)) return nullptr;
            size_t bytes = size_t(shape_count(out[i]) * data_type_size(stage.outputs[i].data_type));
            if (bytes > info.max_output_bytes_[i]) info.max_output_bytes_[i] = bytes;
        }
        info.input_shapes_.push_back(std::move(in));
        info.output_shapes_.push_back(std::move(out));
    }
    for (size_t s = 0; s < net.stages.size(); s++)
        info.stages_.push_back(StageInfoLayout{{info.input_shapes_[s].data(), info.output_shapes_[s].data()}, nullptr, nullptr});

    bm_net_info_t &head = info.layout_.head;
    head.name = info.name_.c_str();
    head.is_dynamic = first.is_dynamic != 0;
    head.input_num = int(inputs);
    head.input_names = info.input_names_.data();
    head.input_dtypes = info.input_dtypes_.data();
    head.input_scales = info.input_scales_.data();
    head.output_num = int(outputs);
    head.output_names = info.output_names_.data();
    head.output_dtypes = info.output_dtypes_.data();
    head.output_scales = info.output_scales_.data();
    head.stage_num = int(net.stages.size());
    head.stages = reinterpret_cast<bm_stage_info_t *>(info.stages_.data());
    info.layout_.max_input_bytes = info.max_input_bytes_.data();
    info.layout_.max_output_bytes = info.max_output_bytes_.data();
    info.layout_.input_zero_point = info.input_zero_points_.data();
    info.layout_.output_zero_point = info.output_zero_points_.data();
    info.layout_.input_loc_devices = info.input_devices_.data();
    info.layout_.output_loc_devices = info.output_devices_.data();
    info.layout_.core_num = 1;
    info.layout_.addr_mode = 0;
    return result;
}

} // namespace tpusim
