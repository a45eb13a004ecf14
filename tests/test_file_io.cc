// Tests for tools/file_io: whole-file reads, atomic writes that leave nothing behind on
// error, the signal cleanup registry and same_file.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "tools/io/file_io.h"

namespace nifc {
namespace {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/nifc_file_io.XXXXXX";
    REQUIRE(::mkdtemp(&pattern[0]) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // Names of everything in the directory, sorted: catches leftover ".x.XXXXXX" files.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

Status write_text(const std::string& path, const std::string& text, bool overwrite) {
  const auto data = bytes_of(text);
  return write_file_atomic(path, data.data(), data.size(), overwrite);
}

TEST_CASE("read_file reads files and names the file in errors") {
  TempDir dir;
  put(dir / "a.bin", std::string("ab\0cd", 5));
  auto data = read_file(dir / "a.bin");
  REQUIRE(data.ok());
  CHECK(*data == std::vector<uint8_t>{'a', 'b', 0, 'c', 'd'});

  put(dir / "empty", "");
  auto empty = read_file(dir / "empty");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  auto missing = read_file(dir / "missing.png");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kIo);
  CHECK(missing.status().message() == dir / "missing.png" + ": No such file or directory");

  auto directory = read_file(dir.path());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().message() == dir.path() + ": Is a directory");
}

TEST_CASE("read_file enforces the size limit") {
  TempDir dir;
  put(dir / "100", std::string(100, 'x'));
  CHECK(read_file(dir / "100", 100).ok());
  auto r = read_file(dir / "100", 99);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kLimit);
  CHECK(r.status().message() == dir / "100" + ": file is larger than the limit of 99 bytes");
  if (fs::exists("/dev/zero")) {  // endless, no size: the limit must stop the read
    CHECK(read_file("/dev/zero", 1 << 20).status().code() == StatusCode::kLimit);
  }
}

TEST_CASE("read_file reads standard input for -") {
  TempDir dir;
  put(dir / "in", "from stdin");
  const int saved = ::dup(0);
  REQUIRE(saved >= 0);
  const int fd = ::open((dir / "in").c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  ::dup2(fd, 0);
  ::close(fd);
  auto data = read_file("-");
  ::dup2(saved, 0);
  ::close(saved);
  REQUIRE(data.ok());
  CHECK(*data == bytes_of("from stdin"));
}

TEST_CASE("write_file_atomic creates, refuses and overwrites") {
  TempDir dir;
  const std::string out = dir / "out.nif";
  const mode_t old_umask = ::umask(027);
  Status s = write_text(out, "first", false);
  ::umask(old_umask);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(contents(out) == "first");
  struct stat st;
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);  // 0666 & ~027, not mkstemp's 0600

  s = write_text(out, "second", false);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kIo);
  CHECK(s.message() == out + ": already exists (use -f to overwrite)");
  CHECK(contents(out) == "first");

  REQUIRE(::chmod(out.c_str(), 0604) == 0);
  s = write_text(out, "second", true);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(contents(out) == "second");
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0604);  // an overwritten file keeps its permissions

  CHECK(write_file_atomic(dir / "empty", nullptr, 0, false).ok());
  CHECK(contents(dir / "empty").empty());
  CHECK(dir.entries() == std::vector<std::string>{"empty", "out.nif"});
}

TEST_CASE("write_file_atomic writes through a symbolic link") {
  TempDir dir;
  put(dir / "target", "old");
  REQUIRE(::symlink((dir / "target").c_str(), (dir / "link").c_str()) == 0);
  CHECK_FALSE(write_text(dir / "link", "new", false).ok());
  REQUIRE(write_text(dir / "link", "new", true).ok());
  CHECK(contents(dir / "target") == "new");
  CHECK(fs::is_symlink(dir / "link"));
  CHECK(dir.entries() == std::vector<std::string>{"link", "target"});
}

TEST_CASE("write_file_atomic leaves nothing behind on errors") {
  TempDir dir;
  SUBCASE("missing directory") {
    Status s = write_text(dir / "no/such/dir/out.nif", "x", false);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == dir / "no/such/dir/out.nif" + ": No such file or directory");
  }
  SUBCASE("target is a directory") {
    REQUIRE(fs::create_directory(dir / "sub"));
    Status s = write_text(dir / "sub", "x", true);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == dir / "sub" + ": Is a directory");
    CHECK(write_text(dir.path() + "/", "x", true).code() == StatusCode::kIo);
    fs::remove(dir / "sub");
  }
  SUBCASE("the disk fills up mid-write") {
    // RLIMIT_FSIZE makes write() fail with EFBIG, like a full disk, for this process only.
    struct rlimit old_limit;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit small = old_limit;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::vector<uint8_t> big(100000, 7);
    Status s = write_file_atomic(dir / "big.nif", big.data(), big.size(), false);
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == StatusCode::kIo);
    CHECK(s.message() == dir / "big.nif" + ": File too large");
    CHECK_FALSE(fs::exists(dir / "big.nif"));
  }
  SUBCASE("an overwrite that fails keeps the old file") {
    put(dir / "keep.nif", "old");
    struct rlimit old_limit;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit small = old_limit;
    small.rlim_cur = 10;
    void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    Status s = write_text(dir / "keep.nif", std::string(1000, 'n'), true);
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    CHECK_FALSE(s.ok());
    CHECK(contents(dir / "keep.nif") == "old");
    ::unlink((dir / "keep.nif").c_str());
  }
  CHECK(dir.entries() == std::vector<std::string>{});
}

TEST_CASE("write_file_atomic writes devices in place") {
  if (fs::exists("/dev/null")) {
    CHECK(write_text("/dev/null", "discarded", false).ok());
    CHECK(fs::is_character_file("/dev/null"));
  }
  if (fs::exists("/dev/full")) {
    Status s = write_text("/dev/full", "no room", false);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == StatusCode::kIo);
    CHECK(s.message() == "/dev/full: No space left on device");
  }
}

TEST_CASE("write_file_atomic writes standard output for -") {
  TempDir dir;
  std::cout.flush();
  std::fflush(stdout);
  const int saved = ::dup(1);
  REQUIRE(saved >= 0);
  const int fd = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  ::dup2(fd, 1);
  ::close(fd);
  Status s = write_text("-", "to stdout", false);
  ::dup2(saved, 1);
  ::close(saved);
  REQUIRE(s.ok());
  CHECK(contents(dir / "stdout") == "to stdout");
}

TEST_CASE("signal handlers remove registered temporary files, then die of the signal") {
  TempDir dir;
  const std::string temp = dir / ".out.nif.ABCDEF";
  put(temp, "partial");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    install_cleanup_signal_handlers();
    install_cleanup_signal_handlers();  // idempotent
    if (register_temp_file(temp) < 0) ::_exit(3);
    ::raise(SIGTERM);
    ::_exit(4);  // not reached: the handler re-raises with the default action
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK_FALSE(fs::exists(temp));
}

TEST_CASE("signals the process ignores stay ignored") {
  TempDir dir;
  const std::string temp = dir / ".kept.XXXXXX";
  put(temp, "partial");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGHUP, SIG_IGN);  // as under nohup
    install_cleanup_signal_handlers();
    const int slot = register_temp_file(temp);
    ::raise(SIGHUP);
    unregister_temp_file(slot);
    ::_exit(7);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(fs::exists(temp));
}

TEST_CASE("the temporary-file registry is bounded") {
  std::vector<int> slots;
  for (int i = 0; i < 1000; ++i) {
    const int slot = register_temp_file("/nonexistent/nifc-test-" + std::to_string(i));
    if (slot < 0) break;
    slots.push_back(slot);
  }
  CHECK(slots.size() < 1000);
  CHECK(register_temp_file(std::string(100000, 'a')) == -1);
  for (int slot : slots) unregister_temp_file(slot);
  unregister_temp_file(-1);  // no-op
  const int again = register_temp_file("/nonexistent/nifc-test-again");
  CHECK(again >= 0);
  unregister_temp_file(again);
}

TEST_CASE("same_file compares inodes") {
  TempDir dir;
  put(dir / "a", "a");
  put(dir / "b", "a");
  REQUIRE(::link((dir / "a").c_str(), (dir / "hard").c_str()) == 0);
  REQUIRE(::symlink((dir / "a").c_str(), (dir / "soft").c_str()) == 0);
  CHECK(same_file(dir / "a", dir / "a"));
  CHECK(same_file(dir / "a", dir.path() + "/./a"));
  CHECK(same_file(dir / "a", dir / "hard"));
  CHECK(same_file(dir / "soft", dir / "a"));
  CHECK_FALSE(same_file(dir / "a", dir / "b"));
  CHECK_FALSE(same_file(dir / "a", dir / "missing"));
  CHECK_FALSE(same_file(dir / "missing", dir / "missing"));
  CHECK_FALSE(same_file("-", "-"));
}

}  // namespace
}  // namespace nifc
