// What bmrt_create returns: loaded sim nets, their infos and coefficients, and the launch path.
#pragma once

#include "device_memory.h"
#include "net_info.h"
#include "sim_ops.h"
#include "sim_stage.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tpusim {

class SimRuntime {
public:
    explicit SimRuntime(std::shared_ptr<Device> device);
    ~SimRuntime();
    SimRuntime(const SimRuntime &) = delete;
    SimRuntime &operator=(const SimRuntime &) = delete;

    bool load(const std::string &path);
    int net_count() const { return int(nets_.size()); }
    const char *net_name(int index) const { return nets_[size_t(index)]->name.c_str(); }
    const bm_net_info_t *net_info(const std::string &name) const;
    bool launch(const char *net_name, const bm_tensor_t inputs[], int input_num, bm_tensor_t outputs[],
                int output_num, bool user_mem);

private:
    struct Net {
        std::string name;
        std::unique_ptr<NetInfo> info;
        std::vector<SimStage> stages;
    };
    const Net *find(const std::string &name) const;
    bool execute(const SimStage &stage, const NetInfo &info, size_t stage_index, const bm_tensor_t inputs[],
                 const std::vector<bm_device_mem_t> &outputs, std::string &error);

    std::shared_ptr<Device> device_;
    bool free_nets_ = false;
    std::vector<std::unique_ptr<Net>> nets_;
    /// What loads reserved on the device: (heap, bytes), released when the runtime is destroyed.
    std::vector<std::pair<int, uint64_t>> reservations_;
    /// The largest neuron block allocated so far (shared by every net, as bmrt does on a single-core chip).
    uint64_t neuron_block_ = 0;
    std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<const std::vector<float>>> coefficients_;
    Workspace workspace_;
};

} // namespace tpusim
