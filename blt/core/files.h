// File helpers for outputs that must never be seen half-written.
#pragma once
#include <string>

namespace blt {

// Writes `contents` to `path` through a temporary file in the same directory,
// fsync'd and renamed: readers see the old file or the new one, never a mix.
void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_text_file(const std::string& path);
// fsync of a directory, so that a rename inside it survives a crash.
void sync_directory(const std::string& path);

}  // namespace blt
