// Other programs run as child processes: blt sweep runs `blt train` (through a
// launcher) and blt-tokenizer; blt eval runs blt-tokenizer for a token_lm.
#pragma once
#include <string>

namespace blt {

// `s` as one /bin/sh word.
std::string shell_quote(const std::string& s);

// Runs `command` through /bin/sh with stdout and stderr appended to `log`; returns
// its exit status (128 + the signal if a signal ended it). The child is killed if
// this process dies, so a killed parent leaves nothing behind to race its next run.
int run_child(const std::string& command, const std::string& log);

// The path of the running executable (/proc/self/exe).
std::string this_program();

}  // namespace blt
