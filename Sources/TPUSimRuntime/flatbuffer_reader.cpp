#include "flatbuffer_reader.h"

#include <cstring>

namespace tpusim {

void FlatBuffer::require(size_t position, uint64_t length, const char *what) const {
    if (position > size_ || length > size_ - position)
        throw FlatBufferError(std::string("FlatBuffers data out of bounds reading ") + what + " at offset " +
                              std::to_string(position) + " (length " + std::to_string(length) + ", buffer " +
                              std::to_string(size_) + " bytes)");
}

void FlatBuffer::read(size_t position, void *out, size_t length, const char *what) const {
    require(position, length, what);
    std::memcpy(out, data_ + position, length);
}

uint32_t FlatBuffer::read_u32(size_t position, const char *what) const {
    uint32_t value;
    read(position, &value, 4, what);
    return value;
}

FlatTable FlatBuffer::root(const char *what) const {
    return FlatTable(this, read_u32(0, "root offset"), what);
}

FlatTable::FlatTable(const FlatBuffer *buffer, size_t position, const char *what)
    : buffer_(buffer), position_(position), what_(what) {
    int32_t vtable_offset;
    buffer->read(position, &vtable_offset, 4, what);
    int64_t vtable = int64_t(position) - int64_t(vtable_offset);
    if (vtable < 0 || uint64_t(vtable) + 4 > buffer->size())
        throw FlatBufferError(std::string("FlatBuffers vtable of ") + what + " lies outside the buffer");
    vtable_ = size_t(vtable);
    buffer->read(vtable_, &vtable_size_, 2, what);
    buffer->read(vtable_ + 2, &table_size_, 2, what);
    if (vtable_size_ < 4 || vtable_size_ % 2 != 0)
        throw FlatBufferError(std::string("FlatBuffers vtable of ") + what + " has a bad size");
    if (table_size_ < 4)
        throw FlatBufferError(std::string("FlatBuffers table ") + what + " has a bad size");
    buffer->require(vtable_, vtable_size_, what);
    buffer->require(position_, table_size_, what);
}

size_t FlatTable::field_position(int id) const {
    if (buffer_ == nullptr) return 0;
    size_t entry = 4 + 2 * size_t(id);
    if (entry + 2 > vtable_size_) return 0;
    uint16_t offset;
    buffer_->read(vtable_ + entry, &offset, 2, what_);
    if (offset == 0) return 0;
    return position_ + offset;
}

// Position of a present scalar of `size` bytes inside the table, or 0.
size_t FlatTable::scalar(int id, size_t size) const {
    size_t position = field_position(id);
    if (position == 0) return 0;
    if (position + size > position_ + table_size_)
        throw FlatBufferError(std::string("FlatBuffers field ") + std::to_string(id) + " of " + what_ +
                              " runs past its table");
    return position;
}

size_t FlatTable::follow_offset(int id) const {
    size_t position = scalar(id, 4);
    if (position == 0) return 0;
    uint32_t offset = buffer_->read_u32(position, what_);
    if (offset == 0 || uint64_t(position) + offset >= buffer_->size())
        throw FlatBufferError(std::string("FlatBuffers field ") + std::to_string(id) + " of " + what_ +
                              " points outside the buffer");
    return position + offset;
}

uint64_t FlatTable::u64(int id, uint64_t fallback) const {
    size_t position = scalar(id, 8);
    if (position == 0) return fallback;
    uint64_t value;
    buffer_->read(position, &value, 8, what_);
    return value;
}

uint32_t FlatTable::u32(int id, uint32_t fallback) const {
    size_t position = scalar(id, 4);
    return position == 0 ? fallback : buffer_->read_u32(position, what_);
}

int32_t FlatTable::i32(int id, int32_t fallback) const {
    return int32_t(u32(id, uint32_t(fallback)));
}

float FlatTable::f32(int id, float fallback) const {
    size_t position = scalar(id, 4);
    if (position == 0) return fallback;
    float value;
    buffer_->read(position, &value, 4, what_);
    return value;
}

std::string FlatTable::string(int id) const {
    size_t position = follow_offset(id);
    if (position == 0) return {};
    uint32_t length = buffer_->read_u32(position, what_);
    buffer_->require(position + 4, uint64_t(length) + 1, what_);
    const char *text = reinterpret_cast<const char *>(buffer_->data() + position + 4);
    if (text[length] != '\0')
        throw FlatBufferError(std::string("FlatBuffers string in ") + what_ + " is not terminated");
    return std::string(text, length);
}

FlatTable FlatTable::table(int id, const char *what) const {
    size_t position = follow_offset(id);
    if (position == 0) return {};
    return FlatTable(buffer_, position, what);
}

FlatVector FlatTable::vector(int id, size_t element_size) const {
    size_t position = follow_offset(id);
    if (position == 0) return {};
    uint32_t count = buffer_->read_u32(position, what_);
    buffer_->require(position + 4, uint64_t(count) * element_size, what_);
    return FlatVector{buffer_, position + 4, count};
}

bool FlatTable::inline_struct(int id, void *out, size_t size) const {
    size_t position = scalar(id, size);
    if (position == 0) return false;
    buffer_->read(position, out, size, what_);
    return true;
}

FlatTable FlatTable::table_at(const FlatVector &vector, uint32_t index, const char *what) const {
    if (index >= vector.count) throw FlatBufferError(std::string("index past the end of a vector in ") + what_);
    size_t element = vector.position + 4 * size_t(index);
    uint32_t offset = buffer_->read_u32(element, what);
    if (uint64_t(element) + offset >= buffer_->size())
        throw FlatBufferError(std::string("FlatBuffers vector element of ") + what + " points outside the buffer");
    return FlatTable(buffer_, element + offset, what);
}

uint64_t FlatTable::u64_at(const FlatVector &vector, uint32_t index) const {
    if (index >= vector.count) throw FlatBufferError(std::string("index past the end of a vector in ") + what_);
    uint64_t value;
    buffer_->read(vector.position + 8 * size_t(index), &value, 8, what_);
    return value;
}

int32_t FlatTable::i32_at(const FlatVector &vector, uint32_t index) const {
    if (index >= vector.count) throw FlatBufferError(std::string("index past the end of a vector in ") + what_);
    int32_t value;
    buffer_->read(vector.position + 4 * size_t(index), &value, 4, what_);
    return value;
}

} // namespace tpusim
