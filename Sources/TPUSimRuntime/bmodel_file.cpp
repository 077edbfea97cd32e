#include "bmodel_file.h"

#include "flatbuffer_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tpusim {
namespace {

constexpr uint32_t kBmodelMagic = 0xFF55AAEE;
constexpr uint32_t kHeaderSize = 64;

// Field ids of the bmodel schema (docs/engine-research.md §2.3).
namespace field {
enum Model { model_type = 0, model_version = 1, model_time = 2, model_chip = 3, model_net = 4, model_neuron_size = 5 };
enum Net { net_name = 0, net_parameter = 3 };
enum NetParameter {
    param_input = 0, param_output = 1, param_ctx_size = 3, param_coeff_mem = 4, param_is_dynamic = 5,
    param_cmd_group = 8, param_sub_net = 12
};
enum Tensor { tensor_name = 0, tensor_data_type = 1, tensor_size = 4, tensor_shape = 5, tensor_scale = 7,
              tensor_zero_point = 10 };
enum CoeffMem { coeff_binary = 2, coeff_location = 3 };
enum Location { location_name = 0, location_offset = 1, location_size = 2 };
enum SubNet { subnet_mode = 0, subnet_cmd_group = 1, subnet_cpu_param = 2 };
enum CpuParam { cpu_op_type = 0, cpu_binary_param = 1 };
} // namespace field

struct Binary {
    uint64_t start;
    uint64_t size;
};

std::vector<TensorDescription> read_tensors(const FlatTable &parameter, int id) {
    std::vector<TensorDescription> tensors;
    FlatVector vector = parameter.vector(id, 4);
    for (uint32_t i = 0; i < vector.count; i++) {
        FlatTable table = parameter.table_at(vector, i, "Tensor");
        TensorDescription tensor;
        if (!table.has(field::tensor_name)) throw FlatBufferError("a Tensor has no name");
        tensor.name = table.string(field::tensor_name);
        tensor.data_type = table.u32(field::tensor_data_type);
        if (tensor.data_type > 10) // bm_data_type_t: BM_FLOAT32 (0) .. BM_UINT4 (10)
            throw FlatBufferError("tensor " + tensor.name + " has unknown data_type " + std::to_string(tensor.data_type));
        tensor.size = table.u64(field::tensor_size);
        tensor.scale = table.f32(field::tensor_scale, 1.0f);
        tensor.zero_point = table.i32(field::tensor_zero_point);
        FlatVector shapes = table.vector(field::tensor_shape, 4);
        if (shapes.count == 0) throw FlatBufferError("tensor " + tensor.name + " has no shape");
        FlatTable shape = table.table_at(shapes, 0, "Shape");
        FlatVector dims = shape.vector(0, 8);
        if (dims.count > 8) throw FlatBufferError("tensor " + tensor.name + " has more than 8 dimensions");
        for (uint32_t d = 0; d < dims.count; d++) tensor.dims.push_back(shape.u64_at(dims, d));
        tensors.push_back(std::move(tensor));
    }
    return tensors;
}

SubNetDescription read_subnet(const FlatTable &table) {
    SubNetDescription subnet;
    subnet.mode = table.i32(field::subnet_mode);
    subnet.command_groups = table.vector(field::subnet_cmd_group, 4).count;
    FlatVector params = table.vector(field::subnet_cpu_param, 4);
    for (uint32_t i = 0; i < params.count; i++) {
        FlatTable param = table.table_at(params, i, "CpuParam");
        CpuParamDescription description;
        description.op_type = param.i32(field::cpu_op_type);
        Binary binary{};
        description.has_binary_param = param.inline_struct(field::cpu_binary_param, &binary, sizeof binary);
        description.param_start = binary.start;
        description.param_size = binary.size;
        subnet.cpu_params.push_back(description);
    }
    return subnet;
}

StageDescription read_stage(const FlatTable &parameter) {
    StageDescription stage;
    if (!parameter.has(field::param_input) || !parameter.has(field::param_output))
        throw FlatBufferError("a NetParameter lacks its required input_tensor/output_tensor");
    stage.inputs = read_tensors(parameter, field::param_input);
    stage.outputs = read_tensors(parameter, field::param_output);
    stage.ctx_size = parameter.u64(field::param_ctx_size);
    stage.is_dynamic = parameter.i32(field::param_is_dynamic);
    stage.command_groups = parameter.vector(field::param_cmd_group, 4).count;
    FlatTable coeff = parameter.table(field::param_coeff_mem, "CoeffMem");
    if (coeff.valid()) {
        Binary binary{};
        stage.has_coefficients = coeff.inline_struct(field::coeff_binary, &binary, sizeof binary);
        stage.coeff_start = binary.start;
        stage.coeff_size = binary.size;
        FlatVector locations = coeff.vector(field::coeff_location, 4);
        for (uint32_t i = 0; i < locations.count; i++) {
            FlatTable table = coeff.table_at(locations, i, "Location");
            stage.locations.push_back(WeightLocation{table.string(field::location_name),
                                                     table.u64(field::location_offset),
                                                     table.u64(field::location_size)});
        }
    }
    FlatVector subnets = parameter.vector(field::param_sub_net, 4);
    for (uint32_t i = 0; i < subnets.count; i++)
        stage.subnets.push_back(read_subnet(parameter.table_at(subnets, i, "SubNet")));
    return stage;
}

ModelDescription read_model(const FlatBuffer &buffer) {
    FlatTable root = buffer.root("Model");
    ModelDescription model;
    for (int id : {field::model_type, field::model_version, field::model_time, field::model_chip, field::model_net})
        if (!root.has(id)) throw FlatBufferError("Model lacks required field " + std::to_string(id));
    model.type = root.string(field::model_type);
    model.version = root.string(field::model_version);
    model.chip = root.string(field::model_chip);
    model.neuron_size = root.u64(field::model_neuron_size);
    FlatVector nets = root.vector(field::model_net, 4);
    for (uint32_t i = 0; i < nets.count; i++) {
        FlatTable table = root.table_at(nets, i, "Net");
        NetDescription net;
        if (!table.has(field::net_name)) throw FlatBufferError("a Net has no name");
        net.name = table.string(field::net_name);
        FlatVector parameters = table.vector(field::net_parameter, 4);
        for (uint32_t p = 0; p < parameters.count; p++)
            net.stages.push_back(read_stage(table.table_at(parameters, p, "NetParameter")));
        model.nets.push_back(std::move(net));
    }
    return model;
}

std::string broken(const std::string &path, const std::string &why) {
    return "File[" + path + "] is broken: " + why;
}

// The end of the furthest blob range the model points at: coefficients and CPU-layer parameters.
uint64_t furthest_blob_end(const ModelDescription &model) {
    uint64_t end = 0;
    auto extend = [&](uint64_t start, uint64_t size) {
        uint64_t range_end = start + size;
        end = range_end < start ? UINT64_MAX : std::max(end, range_end);
    };
    for (const NetDescription &net : model.nets)
        for (const StageDescription &stage : net.stages) {
            if (stage.has_coefficients) extend(stage.coeff_start, stage.coeff_size);
            for (const SubNetDescription &subnet : stage.subnets)
                for (const CpuParamDescription &param : subnet.cpu_params)
                    if (param.has_binary_param) extend(param.param_start, param.param_size);
        }
    return end;
}

// The blob size whose low 32 bits are the header's binary_size and that reaches `furthest_end`: the writers
// (libsophon and tpu-mlir ModelGen) store the blob's size_t size in that u32, so 4 GiB and more wrap.
uint64_t unwrapped_binary_size(uint32_t header_binary_size, uint64_t furthest_end) {
    constexpr uint64_t wrap = 1ull << 32;
    if (furthest_end > UINT64_MAX - wrap) return UINT64_MAX;
    uint64_t size = header_binary_size;
    if (furthest_end > size) size += (furthest_end - size + wrap - 1) / wrap * wrap;
    return size;
}

} // namespace

bool chip_is_bm1684x(const std::string &chip) { return chip == "BM1684X" || chip == "BM1686"; }

std::unique_ptr<BmodelFile> BmodelFile::open(const std::string &path, std::string &error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = "File[" + path + "] open failed: " + std::strerror(errno);
        return nullptr;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        error = "File[" + path + "] open failed: not a regular file";
        return nullptr;
    }
    uint64_t file_size = uint64_t(info.st_size);
    if (file_size <= kHeaderSize) {
        ::close(fd);
        error = broken(path, "file size " + std::to_string(file_size) + " is not larger than the 64-byte header");
        return nullptr;
    }
    // A sparse file maps like any other: only the pages read (header, FlatBuffers, the coefficients) are touched.
    void *mapping = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapping == MAP_FAILED) {
        error = "File[" + path + "] cannot be mapped: " + std::strerror(errno);
        return nullptr;
    }
    std::unique_ptr<BmodelFile> file(new BmodelFile());
    file->mapping_ = mapping;
    file->mapping_size_ = file_size;
    const uint8_t *bytes = static_cast<const uint8_t *>(mapping);

    // MODEL_HEADER_T (tpu-bmodel/include/bmodel.hpp): four u32 and twelve reserved u32.
    uint32_t magic, header_size, flatbuffers_size, binary_size;
    std::memcpy(&magic, bytes, 4);
    std::memcpy(&header_size, bytes + 4, 4);
    std::memcpy(&flatbuffers_size, bytes + 8, 4);
    std::memcpy(&binary_size, bytes + 12, 4);
    if (magic != kBmodelMagic) {
        char text[64];
        std::snprintf(text, sizeof text, "magic 0x%08X is not 0xFF55AAEE", magic);
        error = broken(path, text);
        return nullptr;
    }
    if (header_size != kHeaderSize) {
        error = broken(path, "header_size " + std::to_string(header_size) + " is not 64");
        return nullptr;
    }
    // libbmrt's own check (ModelCtx): the file holds at least what the header says.
    uint64_t declared = uint64_t(header_size) + flatbuffers_size + binary_size;
    if (declared > file_size) {
        error = broken(path, "the header declares " + std::to_string(declared) + " bytes but the file has " +
                                 std::to_string(file_size));
        return nullptr;
    }
    try {
        FlatBuffer buffer(bytes + header_size, flatbuffers_size);
        file->model_ = read_model(buffer);
    } catch (const FlatBufferError &failure) {
        error = broken(path, failure.what());
        return nullptr;
    }
    // binary_size is the blob's size mod 2^32 (the writers store a size_t in it), so a blob of 4 GiB or more is
    // bigger than it says: the smallest size with those low 32 bits that holds every range the model points at.
    uint64_t blob_offset = uint64_t(header_size) + flatbuffers_size;
    uint64_t needed = unwrapped_binary_size(binary_size, furthest_blob_end(file->model_));
    if (needed > file_size - blob_offset) {
        error = broken(path, "incomplete: its weights need a blob of " + std::to_string(needed) +
                                 " bytes (header binary_size " + std::to_string(binary_size) + " + a multiple of 4 GiB), " +
                                 "the file holds " + std::to_string(file_size - blob_offset) + " after the header and model");
        return nullptr;
    }
    file->blob_ = bytes + blob_offset;
    file->binary_size_ = file_size - blob_offset;
    return file;
}

BmodelFile::~BmodelFile() {
    if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

const uint8_t *BmodelFile::blob(uint64_t start, uint64_t size) const {
    if (start > binary_size_ || size > binary_size_ - start) return nullptr;
    return blob_ + start;
}

} // namespace tpusim
