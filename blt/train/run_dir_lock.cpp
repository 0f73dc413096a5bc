#include "blt/train/run_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/parallel/text_gather.h"

namespace blt::train {

namespace {

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("an unknown host");
}

}  // namespace

RunDirLock::RunDirLock(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/.lock";
  // Opened without O_TRUNC: while another process holds the lock, its owner line must survive.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open the run lock '{}': {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) fail("cannot lock the run directory '{}' ({}): {}", dir, path, std::strerror(error));
    std::string owner = read_text_file(path);
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    fail("the run directory '{}' is in use by another blt train ({}; lock file {}): a run owns its out_dir, so wait "
         "for that run to end, stop it, or set another train.out_dir",
         dir, owner.empty() ? "which has not written its pid yet" : owner, path);
  }
  const std::string owner = fmt::format("pid {} on {}\n", ::getpid(), host_name());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, owner.data(), owner.size(), 0) != static_cast<ssize_t>(owner.size()))
    fail("cannot write the run lock '{}': {}", path, std::strerror(errno));
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::unique_ptr<RunDirLock> lock_run_dir(const std::string& dir, parallel::Comm& comm) {
  std::unique_ptr<RunDirLock> lock;
  std::string refusal;
  if (comm.is_main()) {
    try {
      lock = std::make_unique<RunDirLock>(dir);
    } catch (const std::exception& e) {
      refusal = e.what();
    }
  }
  const std::string main_refusal = parallel::all_gather_text(comm, refusal)[0];
  if (!main_refusal.empty()) fail("{}{}", comm.is_main() ? "" : "rank 0: ", main_refusal);
  return lock;
}

}  // namespace blt::train
