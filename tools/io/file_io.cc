#include "tools/io/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <vector>

namespace nifc {
namespace {

// strerror() is not thread-safe; the category message is.
std::string errno_text(int err) { return std::generic_category().message(err); }

Status errno_status(const std::string& name, int err) {
  return io_error(name + ": " + errno_text(err));
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// Writes all of data[0, size) to fd, retrying short writes and EINTR.  Returns 0 or errno.
int write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    // Linux moves at most ~2 GiB per call; asking for less keeps the count in ssize_t.
    const size_t chunk = size < (size_t{1} << 30) ? size : (size_t{1} << 30);
    const ssize_t n = ::write(fd, data, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress and no error: do not spin
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

// ---- Temporary-file registry, read by the signal handler ----
//
// Fixed storage, because the handler may only make async-signal-safe calls: no
// allocation, no locks.  A slot is free (0), being filled (1) or published (2); the
// handler only reads published slots, and a path is only written while its slot is
// claimed.  (A slot unregistered and reused while a handler on another thread is reading
// it could give that handler a torn path; the signal kills the process anyway, and the
// worst case is one leftover temporary file.)
constexpr int kMaxTempFiles = 32;
constexpr size_t kMaxTempPath = PATH_MAX;

struct TempSlot {
  std::atomic<int> state{0};
  char path[kMaxTempPath];
};
static_assert(std::atomic<int>::is_always_lock_free,
              "the signal handler needs lock-free atomics to be async-signal-safe");

TempSlot g_temp_slots[kMaxTempFiles];

// The signals whose default action ends the process and that a user or a supervisor
// sends to stop a run: Ctrl-C, Ctrl-\, kill, hang-up, timeout -s ALRM, CPU-time limits,
// a closed pipe.
constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGXCPU, SIGPIPE};

void cleanup_and_reraise(int sig) {
  const int saved_errno = errno;
  for (TempSlot& slot : g_temp_slots) {
    if (slot.state.load(std::memory_order_acquire) == 2) ::unlink(slot.path);
  }
  // The signal is blocked while its handler runs, so raise() leaves it pending and the
  // default action (terminate, status "killed by signal") happens when we return.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  errno = saved_errno;
}

// Blocks the cleanup signals in this thread for its lifetime, so that "file created" and
// "file registered" (or "renamed" and "unregistered") happen together for the handler.
class ScopedSignalBlock {
 public:
  ScopedSignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kCleanupSignals) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~ScopedSignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  ScopedSignalBlock(const ScopedSignalBlock&) = delete;
  ScopedSignalBlock& operator=(const ScopedSignalBlock&) = delete;

 private:
  sigset_t old_;
};

// The process umask without changing it: umask(2) can only be read by setting it, which
// would race with other threads creating files, so prefer /proc/self/status.
mode_t current_umask() {
  if (FILE* f = ::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned int mask = 0;
    bool found = false;
    while (!found && ::fgets(line, sizeof(line), f) != nullptr) {
      found = ::sscanf(line, "Umask: %o", &mask) == 1;
    }
    ::fclose(f);
    if (found) return static_cast<mode_t>(mask & 0777);
  }
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

Status write_to_fd(int fd, const std::string& name, const uint8_t* data, size_t size) {
  const int err = write_all(fd, data, size);
  return err == 0 ? Status() : errno_status(name, err);
}

// Writes to an existing non-regular file (device, FIFO) or a descriptor alias in place:
// there is nothing to replace atomically, and a rename would destroy the device node.
Status write_in_place(const std::string& path, const uint8_t* data, size_t size) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_status(path, errno);
  const int write_err = write_all(fd, data, size);
  const int close_err = ::close(fd) == 0 ? 0 : errno;
  if (write_err != 0) return errno_status(path, write_err);
  if (close_err != 0 && close_err != EINTR) return errno_status(path, close_err);
  return Status();
}

// Moves tmp to target.  Without `overwrite`, refuses (EEXIST) if target appeared since
// we looked, where the filesystem can do that atomically.  Returns 0 or errno.
int move_into_place(const std::string& tmp, const std::string& target, bool overwrite) {
#ifdef RENAME_NOREPLACE
  if (!overwrite) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) {
      return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return errno;
    // The filesystem cannot do it; fall back to the check made by the caller.
  }
#else
  (void)overwrite;
#endif
  return ::rename(tmp.c_str(), target.c_str()) == 0 ? 0 : errno;
}

}  // namespace

StatusOr<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes) {
  const bool is_stdin = path == "-";
  const std::string name = is_stdin ? std::string("stdin") : path;
  int fd = 0;
  if (!is_stdin) {
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_status(name, errno);
  }
  // Closes fd on every return below.
  struct FdCloser {
    int fd;
    bool owned;
    ~FdCloser() {
      if (owned) ::close(fd);
    }
  } closer{fd, !is_stdin};

  struct stat st;
  if (::fstat(fd, &st) != 0) return errno_status(name, errno);
  if (S_ISDIR(st.st_mode)) return errno_status(name, EISDIR);
  auto too_large = [&] {
    return limit_exceeded(name + ": file is larger than the limit of " + std::to_string(max_bytes) +
                          " bytes");
  };
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();

  // Never hold more than max_bytes + 1: enough to know the limit was passed.
  const size_t hold_max = max_bytes >= SIZE_MAX ? SIZE_MAX : static_cast<size_t>(max_bytes + 1);
  std::vector<uint8_t> data;
  try {
    // Regular files: one read of the whole size (plus one byte to see EOF, or growth if
    // the file grew).  Pipes and devices: grow as data comes.
    size_t capacity = S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16;
    size_t used = 0;
    for (;;) {
      if (used == capacity) capacity *= 2;
      if (capacity > hold_max) capacity = hold_max;
      data.resize(capacity);
      const ssize_t n = ::read(fd, data.data() + used, capacity - used);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(name, errno);
      }
      if (n == 0) break;
      used += static_cast<size_t>(n);
      if (used > max_bytes) return too_large();
    }
    data.resize(used);
    data.shrink_to_fit();
  } catch (const std::bad_alloc&) {
    return limit_exceeded(name + ": not enough memory to read the file");
  }
  return data;
}

Status write_file_atomic(const std::string& path, const uint8_t* data, size_t size,
                         bool overwrite) {
  if (path.empty()) return invalid_argument("empty output file name");
  if (path == "-" || path == "/dev/stdout") return write_to_fd(1, "stdout", data, size);
  if (path == "/dev/stderr") return write_to_fd(2, "stderr", data, size);

  struct stat lst;
  const bool exists = ::lstat(path.c_str(), &lst) == 0;
  struct stat st;
  const bool target_exists = ::stat(path.c_str(), &st) == 0;  // follows symbolic links
  if (target_exists && S_ISDIR(st.st_mode)) return errno_status(path, EISDIR);
  // /dev/fd/N names an open descriptor (say a shell redirection); its target must be
  // written through, not replaced.
  if ((target_exists && !S_ISREG(st.st_mode)) || starts_with(path, "/dev/fd/") ||
      starts_with(path, "/proc/self/fd/")) {
    return write_in_place(path, data, size);
  }
  if (exists && !overwrite) return io_error(path + ": already exists (use -f to overwrite)");

  // Replace the target of a symbolic link, not the link (what `cp` and a shell
  // redirection do).  A dangling link is replaced by the new file.
  std::string target = path;
  if (exists && S_ISLNK(lst.st_mode) && target_exists) {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) return errno_status(path, errno);
    target = resolved;
  }
  const size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : target.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return invalid_argument(path + ": not a file name");
  }
  // An existing file keeps its permissions; a new one gets what open(2) would give it.
  const mode_t mode = target_exists ? (st.st_mode & 07777) : (0666 & ~current_umask());

  std::string tmp = dir + "." + base + ".XXXXXX";
  int fd;
  int slot;
  {
    ScopedSignalBlock block;
    fd = ::mkostemp(&tmp[0], O_CLOEXEC);
    if (fd < 0) return errno_status(path, errno);
    slot = register_temp_file(tmp);
  }
  // From here on, every failure removes the temporary file.
  auto fail = [&](int err) {
    ScopedSignalBlock block;
    ::unlink(tmp.c_str());
    unregister_temp_file(slot);
    return errno_status(path, err);
  };
  // mkstemp creates 0600.
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(err);
  }
  const int write_err = write_all(fd, data, size);
  // close() reports deferred write errors (NFS, quota); it must succeed too.  On Linux
  // the descriptor is released even when close fails, so it is never retried.
  const int close_err = ::close(fd) == 0 ? 0 : errno;
  if (write_err != 0) return fail(write_err);
  if (close_err != 0 && close_err != EINTR) return fail(close_err);

  ScopedSignalBlock block;
  const int rename_err = move_into_place(tmp, target, overwrite);
  if (rename_err != 0) {
    ::unlink(tmp.c_str());
    unregister_temp_file(slot);
    if (rename_err == EEXIST) return io_error(path + ": already exists (use -f to overwrite)");
    return errno_status(path, rename_err);
  }
  unregister_temp_file(slot);
  return Status();
}

int register_temp_file(const std::string& path) {
  if (path.size() >= kMaxTempPath) return -1;
  for (int i = 0; i < kMaxTempFiles; ++i) {
    int expected = 0;
    if (g_temp_slots[i].state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
      std::memcpy(g_temp_slots[i].path, path.c_str(), path.size() + 1);
      g_temp_slots[i].state.store(2, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void unregister_temp_file(int slot) {
  if (slot < 0 || slot >= kMaxTempFiles) return;
  g_temp_slots[slot].state.store(0, std::memory_order_release);
}

void install_cleanup_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Past the file-size limit (ulimit -f) write(2) then fails with EFBIG, which removes the
    // temporary file and reports "File too large", instead of SIGXFSZ killing the process
    // and leaving the temporary file behind.
    ::signal(SIGXFSZ, SIG_IGN);
    for (int sig : kCleanupSignals) {
      struct sigaction old_action;
      if (::sigaction(sig, nullptr, &old_action) != 0) continue;
      if (old_action.sa_handler == SIG_IGN) continue;  // nohup and friends: stay ignored
      struct sigaction action;
      std::memset(&action, 0, sizeof(action));
      action.sa_handler = cleanup_and_reraise;
      sigemptyset(&action.sa_mask);
      // No other cleanup signal may interrupt the handler halfway through the slots.
      for (int other : kCleanupSignals) sigaddset(&action.sa_mask, other);
      ::sigaction(sig, &action, nullptr);
    }
  });
}

bool same_file(const std::string& a, const std::string& b) {
  if (a == "-" || b == "-") return false;
  struct stat sa;
  struct stat sb;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace nifc
