// Stands in for libsophon's libbmrt.so: C++ inside (own dynamic libstdc++.so.6, exceptions),
// a plain C ABI outside, found with dlopen/dlsym.
#include <stdexcept>
#include <string>
static std::string g_name;
extern "C" int plugin_add(int a, int b) {
  try { if (a < 0) throw std::invalid_argument("negative"); return a + b; }
  catch (const std::exception&) { return -1; }
}
extern "C" const char* plugin_name() {
  try { throw std::runtime_error("libplugin.so (C++ inside, dynamic libstdc++, C ABI)"); }
  catch (const std::exception& e) { g_name = e.what(); }
  return g_name.c_str();
}
