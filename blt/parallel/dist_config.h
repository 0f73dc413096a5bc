// Multi-process settings (dist.* of a run config; docs/distributed.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <c10/core/ScalarType.h>

#include "blt/config/yaml_config.h"

namespace blt::parallel {

struct DistConfig {
  std::string strategy = "ddp";
  int64_t timeout_s = 300;
  // The dtype gradients are summed over ranks in: "param" (the parameters' own, exact up to the
  // order of the sum) or "bfloat16" (half the bytes on the wire; each rank's gradient and the sum
  // rounded to bf16's 8-bit significand). The hash tables' row-sparse gradients stay in "param".
  std::string reduce_dtype = "param";
  // ddp: the size of a gradient bucket, one all-reduce each, in MiB of the parameters' dtype.
  int64_t bucket_mb = 32;

  // reduce_dtype as a dtype; nullopt: the parameters' own.
  std::optional<c10::ScalarType> reduce_scalar_type() const {
    if (reduce_dtype == "bfloat16") return c10::ScalarType::BFloat16;
    return std::nullopt;
  }

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("strategy", strategy, "ddp, zero2 or fsdp", one_of({"ddp", "zero2", "fsdp"}));
    v.field("timeout_s", timeout_s, "seconds before a stuck collective is an error", at_least<int64_t>(1));
    v.field("reduce_dtype", reduce_dtype,
            "dtype gradients are summed over ranks in: param (the parameters' own) or bfloat16 (half the bytes)",
            one_of({"param", "bfloat16"}));
    v.field("bucket_mb", bucket_mb, "ddp: MiB of gradients per all-reduce (bucket), started as backward fills it",
            at_least<int64_t>(1));
  }
};

}  // namespace blt::parallel
