// Status and StatusOr: the error type used across nifc (format, codec, tools).
//
// The first error wins and keeps its message; nothing here throws.  A status
// code is one of a small closed set whose numeric values are stable (they are
// also the values of the C API's status enum).
#ifndef NIFC_FORMAT_STATUS_H_
#define NIFC_FORMAT_STATUS_H_

#include <optional>
#include <string>
#include <utility>

namespace nifc {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // the caller asked for something impossible
  kCorrupt = 2,          // bytes do not form a valid file (bad magic, truncated, checksum)
  kUnsupported = 3,      // valid, but a version or feature this build does not handle
  kLimit = 4,            // a size or count beyond the configured limits
  kIo = 5,               // reading or writing a file failed
  kInternal = 6,         // a bug or an unexpected failure of a dependency
  kCancelled = 7,        // interrupted (signal, callback)
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: checksum mismatch in section NETW"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status limit_exceeded(std::string m) { return {StatusCode::kLimit, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIo, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Prints "nifc: StatusOr::value() on an error: <status>" to stderr and aborts.
[[noreturn]] void abort_on_error(const Status& status);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // The value; on an error these abort with the status (a programming error, like
  // libjxl's JXL_ASSERT), rather than reading an empty optional.
  T& value() & { return checked(); }
  const T& value() const& { return checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &checked(); }
  T& operator*() { return checked(); }

 private:
  T& checked() {
    if (!value_) abort_on_error(status_);
    return *value_;
  }
  const T& checked() const {
    if (!value_) abort_on_error(status_);
    return *value_;
  }
  Status status_;
  std::optional<T> value_;
};

}  // namespace nifc

#define NIFC_CONCAT_INNER_(a, b) a##b
#define NIFC_CONCAT_(a, b) NIFC_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not ok.
#define NIFC_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::nifc::Status nifc_status_ = (expr);        \
    if (!nifc_status_.ok()) return nifc_status_; \
  } while (0)

// `NIFC_ASSIGN_OR_RETURN(auto x, f());` declares x from a StatusOr or returns its error.
#define NIFC_ASSIGN_OR_RETURN(lhs, expr) \
  NIFC_ASSIGN_OR_RETURN_IMPL_(NIFC_CONCAT_(nifc_statusor_, __LINE__), lhs, expr)
#define NIFC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // NIFC_FORMAT_STATUS_H_
