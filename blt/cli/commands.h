// Every `blt` subcommand: takes the arguments after its name, returns the exit code.
#pragma once
#include <string>
#include <vector>

namespace blt::cli {

using Args = std::vector<std::string>;

int config_show(const Args& args);
int preprocess(const Args& args);
int data_stats(const Args& args);
int model_info(const Args& args);
int model_logits(const Args& args);
int patching_threshold(const Args& args);
int patch(const Args& args);
int flops(const Args& args);
int import_hf(const Args& args);
int safetensors_info(const Args& args);
int safetensors_copy(const Args& args);
int train(const Args& args);
int bench(const Args& args);
int eval(const Args& args);
int export_checkpoint(const Args& args);
int generate(const Args& args);
int sweep_plan(const Args& args);
int sweep_run(const Args& args);
int sweep_report(const Args& args);

}  // namespace blt::cli
