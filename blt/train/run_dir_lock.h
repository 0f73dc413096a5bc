// A run owns its output directory: OUT/.lock is held with flock(2) for the
// lifetime of the process and names the owner ("pid P on HOST"), so that a
// second `blt train` into the same directory stops at once with an error that
// names the first instead of mixing checkpoints, metrics and models.
//
// The kernel drops a flock when its holder dies, even by kill -9, so a lock
// file left behind by a crashed run never blocks the next one. On NFS, Linux
// emulates flock with byte-range locks held by the server, which is what a
// train.out_dir shared by several nodes needs (docs/distributed.md).
#pragma once
#include <memory>
#include <string>

#include "blt/parallel/comm.h"

namespace blt::train {

class RunDirLock {
 public:
  // Creates `dir` if needed and locks it; fails naming the owner if another process holds it.
  explicit RunDirLock(const std::string& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// The main rank locks `dir` (one directory for all ranks, shared across nodes);
// the others learn the outcome, so that a refused run stops on every rank with
// the main rank's reason rather than with a lost peer. Null on other ranks. Collective.
std::unique_ptr<RunDirLock> lock_run_dir(const std::string& dir, parallel::Comm& comm);

}  // namespace blt::train
