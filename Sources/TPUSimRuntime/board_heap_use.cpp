#include "board_heap_use.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tpusim {
namespace {

const char *kHeapNames[3] = {"npu", "vpp", "vpu"};

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. With the pid it names one
// process for good: a pid reused by a later process has another start time, so a dead engine's share is not
// mistaken for the new process's.
std::string start_time(const std::string &pid) {
    std::ifstream file("/proc/" + pid + "/stat");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream fields(text.substr(close + 1));
    std::string field;
    for (int number = 3; number <= 22 && (fields >> field); number++)
        if (number == 22) return field;
    return {};
}

// Replaces `target` with `text` atomically: readers (bm-smi, the debugfs links) never see half a number.
void write_atomically(const std::string &target, const std::string &text) {
    std::string temporary = target + ".tmp." + std::to_string(getpid());
    FILE *file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) return;
    bool written = std::fputs(text.c_str(), file) >= 0;
    written = (std::fclose(file) == 0) && written;
    if (!written || std::rename(temporary.c_str(), target.c_str()) != 0) std::remove(temporary.c_str());
}

bool is_directory(const std::string &path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

} // namespace

BoardHeapUse::BoardHeapUse(std::string state_directory, int device_id) : state_directory_(std::move(state_directory)) {
    if (!is_directory(state_directory_)) return;
    // Sticky and world-writable like /tmp: engines may run as any user, none may remove another's share
    // (boot.sh makes it so on a simulated board; this covers a state directory made by a test).
    shares_directory_ = state_directory_ + "/heap-shares";
    if (mkdir(shares_directory_.c_str(), 0755) == 0) chmod(shares_directory_.c_str(), 01777);
    if (!is_directory(shares_directory_)) return;
    std::string pid = std::to_string(getpid());
    own_start_time_ = start_time(pid);
    own_share_ = shares_directory_ + "/" + pid + "." + std::to_string(device_id);
    active_ = true;
}

BoardHeapUse::~BoardHeapUse() { unlock(); }

HeapCounts BoardHeapUse::lock_others() {
    HeapCounts others{};
    if (!active_) return others;
    // Read-only is enough for flock, so a lock file made by another user (0644) still serves.
    std::string lock_path = shares_directory_ + "/.lock";
    lock_fd_ = open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ >= 0 && flock(lock_fd_, LOCK_EX) != 0) {
        close(lock_fd_);
        lock_fd_ = -1;
    }
    DIR *directory = opendir(shares_directory_.c_str());
    if (directory == nullptr) return others;
    while (dirent *entry = readdir(directory)) {
        std::string name = entry->d_name;
        std::string path = shares_directory_ + "/" + name;
        size_t dot = name.find('.');
        if (dot == 0 || dot == std::string::npos || path == own_share_) continue; // ".lock", temporaries, ours
        if (name.find(".tmp.") != std::string::npos) continue;
        std::ifstream file(path);
        std::string started;
        HeapCounts share{};
        if (!(file >> started >> share[0] >> share[1] >> share[2])) continue;
        if (start_time(name.substr(0, dot)) != started) {
            // Its process is gone: the kernel would have freed its buffers. (The sticky directory may keep
            // another user's file; it is skipped all the same.)
            std::remove(path.c_str());
            continue;
        }
        for (size_t heap = 0; heap < 3; heap++) others[heap] += share[heap];
    }
    closedir(directory);
    return others;
}

void BoardHeapUse::publish_and_unlock(const HeapCounts &own, const HeapCounts &others) {
    if (active_) {
        if (own[0] + own[1] + own[2] == 0) {
            std::remove(own_share_.c_str());
        } else {
            write_atomically(own_share_, own_start_time_ + " " + std::to_string(own[0]) + " " + std::to_string(own[1]) + " " +
                                             std::to_string(own[2]) + "\n");
        }
        // The totals where the board shows them: all heaps together for bm_get_stat and bm-smi, and each heap
        // for the debugfs alloc_mem links boot.sh makes.
        uint64_t all = 0;
        std::string used_directory = state_directory_ + "/heap-used";
        bool has_used_directory = mkdir(used_directory.c_str(), 0755) == 0 || errno == EEXIST;
        for (size_t heap = 0; heap < 3; heap++) {
            uint64_t total = own[heap] + others[heap];
            all += total;
            if (has_used_directory) write_atomically(used_directory + "/" + kHeapNames[heap], std::to_string(total) + "\n");
        }
        write_atomically(state_directory_ + "/npu_used_bytes", std::to_string(all) + "\n");
    }
    unlock();
}

void BoardHeapUse::unlock() {
    if (lock_fd_ < 0) return;
    close(lock_fd_); // closing the only descriptor releases the flock
    lock_fd_ = -1;
}

} // namespace tpusim
