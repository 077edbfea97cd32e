// A bmodel file opened read-only: header checks like libsophon's ModelCtx, the FlatBuffers `Model` decoded into
// plain structs (schema fields in docs/engine-research.md §2.3), and bounds-checked access to the binary blob.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tpusim {

struct TensorDescription {
    std::string name;
    uint32_t data_type = 0;
    std::vector<uint64_t> dims; // the first Shape of the tensor
    uint64_t size = 0;          // device bytes
    float scale = 1;
    int32_t zero_point = 0;
};

struct WeightLocation {
    std::string name;
    uint64_t offset = 0; // relative to binary_coeff.start
    uint64_t size = 0;
};

struct CpuParamDescription {
    int32_t op_type = 0;
    bool has_binary_param = false;
    uint64_t param_start = 0;
    uint64_t param_size = 0;
};

struct SubNetDescription {
    int32_t mode = 0; // 0 TPU, 1 CPU
    uint32_t command_groups = 0;
    std::vector<CpuParamDescription> cpu_params;
};

/// One NetParameter: a stage of a net.
struct StageDescription {
    std::vector<TensorDescription> inputs;
    std::vector<TensorDescription> outputs;
    uint64_t ctx_size = 0;
    bool has_coefficients = false;
    uint64_t coeff_start = 0;
    uint64_t coeff_size = 0;
    std::vector<WeightLocation> locations;
    uint32_t command_groups = 0;
    int32_t is_dynamic = 0;
    std::vector<SubNetDescription> subnets;
};

struct NetDescription {
    std::string name;
    std::vector<StageDescription> stages;
};

struct ModelDescription {
    std::string type, version, chip;
    uint64_t neuron_size = 0;
    std::vector<NetDescription> nets;
};

/// The opened file (memory-mapped, so sparse multi-GB files cost nothing). open() returns null and fills `error`
/// with what libsophon's ModelCtx says ("File[...] is broken ...") and why.
class BmodelFile {
public:
    static std::unique_ptr<BmodelFile> open(const std::string &path, std::string &error);
    ~BmodelFile();
    BmodelFile(const BmodelFile &) = delete;
    BmodelFile &operator=(const BmodelFile &) = delete;

    const ModelDescription &model() const { return model_; }
    /// What the file holds after the header and the FlatBuffers part (the header's u32 binary_size wraps at 4 GiB).
    uint64_t binary_size() const { return binary_size_; }
    /// The blob bytes [start, start+size), or null when the range lies outside the blob.
    const uint8_t *blob(uint64_t start, uint64_t size) const;

private:
    BmodelFile() = default;
    void *mapping_ = nullptr;
    size_t mapping_size_ = 0;
    const uint8_t *blob_ = nullptr;
    uint64_t binary_size_ = 0;
    ModelDescription model_;
};

/// The chips whose models a BM1684X runtime accepts: BM1684X and its first name BM1686 (libbmrt load_bmodel).
bool chip_is_bm1684x(const std::string &chip);

} // namespace tpusim
