// The output directory of `blt preprocess`: built in a staging directory of this
// process's own next to it and published by rename, so that readers never see a
// half-written corpus and two runs into one directory never mix their shards.
// An existing directory is replaced only when it provably is an earlier preprocess
// output: its manifest.json, written by blt, lists every file and directory it
// holds, and nothing else is there.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace blt::data {

class PreprocessOutput {
 public:
  // Fails unless `out_dir` is absent or replaceable. Creates the staging directory
  // `OUT.partial-HOST-PID-RANDOM` and removes those left by processes of this host
  // that no longer run.
  explicit PreprocessOutput(std::string out_dir);
  ~PreprocessOutput();  // removes the staging directory unless it was published
  PreprocessOutput(const PreprocessOutput&) = delete;
  PreprocessOutput& operator=(const PreprocessOutput&) = delete;

  const std::string& staging() const { return staging_; }
  // Adds the list of staged files and directories to `manifest`, writes it to the
  // staging directory and renames that to OUT. When another process published OUT
  // while this one was writing, fails and leaves the other's output in place.
  void publish(nlohmann::json manifest);

 private:
  std::string out_, staging_, run_id_;
  std::string replaced_run_;  // run id of the earlier output found at OUT; empty when there was none
  bool published_ = false;
};

// Why the directory `dir` may not be replaced by preprocess; empty when it may.
// `run_id` receives the id its manifest records.
std::string why_not_replaceable(const std::string& dir, std::string* run_id);

}  // namespace blt::data
