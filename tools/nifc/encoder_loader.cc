#include "tools/nifc/encoder_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace nifc {

StatusOr<const EncoderApi*> load_encoder() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("NIFC_ENCODER_PLUGIN")) candidates.emplace_back(env);
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.find_last_of('/'));
    candidates.push_back(dir + "/libnifc_encoder.so");
    candidates.push_back(dir + "/../lib/nifc/libnifc_encoder.so");
  }
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      if (access(path.c_str(), F_OK) == 0) {
        const char* why = dlerror();
        return unsupported("cannot load the encoder " + path + ": " + (why ? why : "?"));
      }
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    using Entry = const EncoderApi* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "nifc_encoder_api"));
    const EncoderApi* api = entry ? entry() : nullptr;
    if (api == nullptr || api->abi_version != kEncoderAbiVersion) {
      return unsupported(path + " is not an encoder plugin of this nifc version");
    }
    return api;
  }
  return unsupported("this nifc has no encoder (not found: " + tried +
                     "); build with -DNIFC_BUILD_ENCODER=ON");
}

}  // namespace nifc
