// Linked into the installable tpudeploy (Packaging/static-link.sh): the Swift runtime's static archives were
// compiled against GCC 11+ headers, whose std::vector/unordered_map call std::__throw_bad_array_new_length()
// (GLIBCXX_3.4.29). GCC 10's libstdc++, the one of Debian 11 and Ubuntu 20.04 that the binary is linked against
// and runs with, lacks it. This is its libstdc++ definition; where the system libstdc++ has its own, both throw
// the same exception.
#include <new>

namespace std {
[[noreturn]] void __throw_bad_array_new_length() { throw bad_array_new_length(); }
}
