// A bounds-checked reader for FlatBuffers binaries, written for the bmodel schema (no flatbuffers library).
// Every offset, length and vtable entry is checked against the buffer; a violation throws FlatBufferError, so a
// corrupt file is reported, never dereferenced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tpusim {

struct FlatBufferError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class FlatBuffer;

/// A vector field: `count` elements of `element_size` bytes starting at `position` (tables: offsets).
struct FlatVector {
    const FlatBuffer *buffer = nullptr;
    size_t position = 0;
    uint32_t count = 0;
};

/// One table inside a FlatBuffer; field accessors take the schema's field id.
class FlatTable {
public:
    FlatTable() = default;
    FlatTable(const FlatBuffer *buffer, size_t position, const char *what);

    bool valid() const { return buffer_ != nullptr; }
    bool has(int id) const { return field_position(id) != 0; }

    uint64_t u64(int id, uint64_t fallback = 0) const;
    uint32_t u32(int id, uint32_t fallback = 0) const;
    int32_t i32(int id, int32_t fallback = 0) const;
    float f32(int id, float fallback = 0) const;
    /// Absent string: empty (use has() to tell).
    std::string string(int id) const;
    /// Absent table: an invalid FlatTable.
    FlatTable table(int id, const char *what) const;
    /// Absent vector: count 0.
    FlatVector vector(int id, size_t element_size) const;
    /// A struct stored inline: `size` bytes copied into `out`; false when absent.
    bool inline_struct(int id, void *out, size_t size) const;

    FlatTable table_at(const FlatVector &vector, uint32_t index, const char *what) const;
    uint64_t u64_at(const FlatVector &vector, uint32_t index) const;
    int32_t i32_at(const FlatVector &vector, uint32_t index) const;

private:
    size_t field_position(int id) const;
    size_t scalar(int id, size_t size) const;
    size_t follow_offset(int id) const;

    const FlatBuffer *buffer_ = nullptr;
    size_t position_ = 0;
    size_t vtable_ = 0;
    uint16_t vtable_size_ = 0;
    uint16_t table_size_ = 0;
    const char *what_ = "";
};

/// The buffer: a pointer and a length owned by someone else.
class FlatBuffer {
public:
    FlatBuffer(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    FlatTable root(const char *what) const;

    size_t size() const { return size_; }
    /// Copies `length` bytes at `position` after checking the range; throws otherwise.
    void read(size_t position, void *out, size_t length, const char *what) const;
    uint32_t read_u32(size_t position, const char *what) const;
    void require(size_t position, uint64_t length, const char *what) const;
    const uint8_t *data() const { return data_; }

private:
    const uint8_t *data_;
    size_t size_;
};

} // namespace tpusim
