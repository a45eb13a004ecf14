// File helpers for the nifc CLI: whole-file reads, and writes that never leave a partial
// output file behind (not on error, not on SIGINT/SIGTERM/SIGHUP/... once the handlers are
// installed, not past the file-size limit).  POSIX only.
//
// Every error message is one line that starts with the path as the user gave it
// ("missing.png: No such file or directory"); "-" is reported as "stdin"/"stdout".
#ifndef NIFC_TOOLS_IO_FILE_IO_H_
#define NIFC_TOOLS_IO_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/status.h"

namespace nifc {

inline constexpr uint64_t kDefaultMaxFileBytes = uint64_t{1} << 30;  // 1 GiB

// Reads the whole file at `path` ("-" reads standard input to its end).  Works on
// regular files, pipes and character devices; refuses directories.
// Errors: kIo (cannot open or read, is a directory), kLimit (more than `max_bytes`,
// detected without reading past the limit).  Thread-safe.
StatusOr<std::vector<uint8_t>> read_file(const std::string& path,
                                         uint64_t max_bytes = kDefaultMaxFileBytes);

// Writes data[0, size) to `path` so that `path` is either left untouched or holds the
// complete data:
//   - "-" and "/dev/stdout" write to standard output (file descriptor 1).
//   - An existing path that is not a regular file or directory (/dev/null, /dev/full, a
//     FIFO), or any path under /dev/ or /proc/, is opened and written directly; `overwrite`
//     is not needed, since nothing is replaced.
//   - Otherwise the data goes to a temporary file ".<name>.XXXXXX" in the target's
//     directory, which is renamed over `path` once every write and the close succeeded.
//     An existing regular file needs `overwrite` and keeps its permission bits; a new
//     file gets 0666 & ~umask.  A symbolic link is followed: its target is replaced and
//     the link kept.  No fsync: the guarantee is against errors and signals, not against
//     power loss.
// On every error the temporary file is removed.  Errors: kIo ("out.nif: already exists
// (use -f to overwrite)", "out.nif: No space left on device", ...), kInvalidArgument
// (a path that names no file, such as "dir/").  Thread-safe, except that a new file's
// umask is read with umask(2) where /proc/self/status does not show it.
Status write_file_atomic(const std::string& path, const uint8_t* data, size_t size, bool overwrite);

// Installs handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGXCPU and SIGPIPE that
// unlink the temporary files of writes in progress, then re-raise the signal with its
// default action (so the exit status still says "killed by SIGINT").  A signal the process
// ignores (nohup) stays ignored.  SIGXFSZ is ignored, so that a write past the file-size
// limit fails with EFBIG and is cleaned up like any other error.  Idempotent and
// thread-safe; call it early in main().
void install_cleanup_signal_handlers();

// The registry the handlers clean up.  write_file_atomic uses it; other code that creates
// temporary files may too.  register_temp_file copies `path` (an absolute path is safest:
// the handler does not know the working directory of the moment) and returns a slot id,
// or -1 when the registry is full or the path too long (the file is then simply not
// cleaned up on a signal).  unregister_temp_file(-1) does nothing.  Both are thread-safe;
// block the signals around create+register and rename+unregister to close the windows.
int register_temp_file(const std::string& path);
void unregister_temp_file(int slot);

// True when both paths exist and name the same file (same device and inode, after
// following symbolic links): used to refuse an output that would overwrite the input.
// False for "-" and for paths that cannot be stat'ed.
bool same_file(const std::string& a, const std::string& b);

}  // namespace nifc

#endif  // NIFC_TOOLS_IO_FILE_IO_H_
