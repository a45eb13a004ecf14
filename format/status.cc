#include "format/status.h"

#include <cstdio>
#include <cstdlib>

namespace nifc {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kCorrupt:
      return "corrupt";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kLimit:
      return "limit exceeded";
    case StatusCode::kIo:
      return "i/o error";
    case StatusCode::kInternal:
      return "internal error";
    case StatusCode::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return message_.empty() ? std::string(status_code_name(code_)) : message_;
}

void abort_on_error(const Status& status) {
  std::fprintf(stderr, "nifc: StatusOr::value() on an error: %s\n", status.to_string().c_str());
  std::abort();
}

}  // namespace nifc
