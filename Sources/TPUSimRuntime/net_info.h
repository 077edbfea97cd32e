// bm_net_info_t as the runtime owns it: names, dtypes, scales and per-stage shapes taken from the bmodel,
// laid out like libsophon@main's struct (the fields after `stages` included), freed with the runtime.
#pragma once

#include "bmodel_file.h"
#include "tpu_bm_types.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace tpusim {

/// Bytes per element as bmrt_data_type_size reports them; 0 for an unknown type.
size_t data_type_size(uint32_t data_type);
uint64_t shape_count(const bm_shape_t &shape);
bool shapes_equal(const bm_shape_t &left, const bm_shape_t &right);
std::string shape_text(const bm_shape_t &shape);

/// libsophon@main's bm_stage_info_t: our header's two fields, then the IO memories (null here).
struct StageInfoLayout {
    bm_stage_info_t head;
    bm_device_mem_t *input_mems;
    bm_device_mem_t *output_mems;
};

/// libsophon@main's bm_net_info_t: our header's fields up to `stages`, then the rest.
struct NetInfoLayout {
    bm_net_info_t head;
    size_t *max_input_bytes;
    size_t *max_output_bytes;
    int *input_zero_point;
    int *output_zero_point;
    int *input_loc_devices;
    int *output_loc_devices;
    int core_num;
    int32_t addr_mode;
};

/// Owns one net's info and everything its pointers point at.
class NetInfo {
public:
    /// Fails (false, `error` set) when a shape does not fit bm_shape_t or stages disagree on tensor counts.
    static std::unique_ptr<NetInfo> make(const NetDescription &net, std::string &error);
    const bm_net_info_t *info() const { return &layout_.head; }
    const bm_shape_t &input_shape(size_t stage, size_t index) const { return input_shapes_[stage][index]; }
    const bm_shape_t &output_shape(size_t stage, size_t index) const { return output_shapes_[stage][index]; }

private:
    NetInfo() = default;
    NetInfoLayout layout_{};
    std::string name_;
    std::deque<std::string> strings_;
    std::vector<const char *> input_names_, output_names_;
    std::vector<bm_data_type_t> input_dtypes_, output_dtypes_;
    std::vector<float> input_scales_, output_scales_;
    std::vector<std::vector<bm_shape_t>> input_shapes_, output_shapes_;
    std::vector<StageInfoLayout> stages_;
    std::vector<size_t> max_input_bytes_, max_output_bytes_;
    std::vector<int> input_zero_points_, output_zero_points_, input_devices_, output_devices_;
};

} // namespace tpusim
