// Cross-build smoke test: C++17, std::thread, std::string, iostreams, exceptions,
// sentencepiece (static), dlopen/dlsym of a plugin found through the $ORIGIN runpath.
#include <sentencepiece_processor.h>
#include <dlfcn.h>
#include <atomic>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

static int check_exceptions() {
  try {
    throw std::runtime_error("thrown across frames");
  } catch (const std::exception& e) {
    std::cout << "exception: caught \"" << e.what() << "\"\n";
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) { std::cerr << "usage: demo MODEL\n"; return 2; }

  // threads
  std::atomic<long> sum{0};
  std::vector<std::thread> ts;
  for (int i = 1; i <= 4; ++i) ts.emplace_back([&sum, i] { for (int k = 0; k < 1000; ++k) sum += i; });
  for (auto& t : ts) t.join();
  std::cout << "threads: sum=" << sum.load() << " (expect 10000)\n";

  if (!check_exceptions()) return 1;

  std::optional<std::string_view> sv = std::string_view("c++17 ok");
  std::cout << "c++17: " << *sv << "\n";

  // sentencepiece
  sentencepiece::SentencePieceProcessor sp;
  auto st = sp.Load(argv[1]);
  if (!st.ok()) { std::cerr << "spm load: " << st.ToString() << "\n"; return 1; }
  const std::string text = "the quick brown fox jumps over the lazy dog";
  std::vector<std::string> pieces;
  std::vector<int> ids;
  sp.Encode(text, &pieces);
  sp.Encode(text, &ids);
  std::string back;
  sp.Decode(ids, &back);
  std::cout << "spm: vocab=" << sp.GetPieceSize() << " pieces=";
  for (auto& p : pieces) std::cout << "[" << p << "]";
  std::cout << "\nspm: ids=";
  for (int id : ids) std::cout << id << " ";
  std::cout << "\nspm: decoded=\"" << back << "\" roundtrip=" << (back == text ? "OK" : "MISMATCH") << "\n";

  // dlopen through DT_RUNPATH=$ORIGIN (the engine will reach libbmrt.so/libbmlib.so this way)
  const char* lib = argc > 2 ? argv[2] : "libplugin.so";
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) { std::cerr << "dlopen: " << dlerror() << "\n"; return 1; }
  using add_fn = int (*)(int, int);
  using name_fn = const char* (*)();
  auto add = reinterpret_cast<add_fn>(dlsym(h, "plugin_add"));
  auto name = reinterpret_cast<name_fn>(dlsym(h, "plugin_name"));
  if (!add || !name) { std::cerr << "dlsym: " << dlerror() << "\n"; return 1; }
  std::cout << "dlopen: " << name() << " plugin_add(40,2)=" << add(40, 2) << "\n";
  dlclose(h);
  std::cout << "ALL OK\n";
  return (back == text && sum == 10000) ? 0 : 1;
}
