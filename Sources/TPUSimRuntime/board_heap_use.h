// The board-wide use of the ion heaps. On a real board the heaps belong to the kernel and every process's
// buffers come out of the same ones, so a second engine sees the first one's use; a dead process's buffers are
// freed by the kernel. The simulated runtime keeps each process's use in its own file under the board's state
// directory, sums them under a lock, and drops the share of a process that no longer lives.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace tpusim {

using HeapCounts = std::array<uint64_t, 3>; // npu, vpp, vpu (HeapIndex order)

class BoardHeapUse {
public:
    /// Inactive (every other process counts 0, nothing is written) when `state_directory` is not a directory.
    BoardHeapUse(std::string state_directory, int device_id);
    ~BoardHeapUse();
    BoardHeapUse(const BoardHeapUse &) = delete;
    BoardHeapUse &operator=(const BoardHeapUse &) = delete;

    /// Takes the board's accounting lock and returns what every other live process uses. Callers pair it with
    /// publish_and_unlock or unlock, and serialize calls within the process.
    HeapCounts lock_others();
    /// Records this process's use, writes the board-wide totals (heap-used/<heap>, npu_used_bytes), unlocks.
    void publish_and_unlock(const HeapCounts &own, const HeapCounts &others);
    void unlock();

private:
    bool active_ = false;
    std::string state_directory_;
    std::string shares_directory_;
    std::string own_share_;
    std::string own_start_time_;
    int lock_fd_ = -1;
};

} // namespace tpusim
