#!/usr/bin/env bash
# The GPU checks of docs/gpu.md, in one command for the device machine:
#   bash bench/gpu_checks.sh STAGE...
# stages: build test disttest parity export-parity model checkpointing strategies train1b trainsmall bench
#         graphs benchentropy traceentropy patchcost1b benchsmall trace patchcost kernels fused sparse sparsebpb momentsbpb
#         generate multigpu scaling reducebpb trace2 sweep versus
# TRACE_SET / BENCH_SET="key=value ..." add --set overrides to the trace(2) / bench stage (e.g.
# train.optimizer.sparse_hash_rows=true); BENCH_MODES picks the transformers modes (bf16,amp);
# BENCH_SHAPE=blt-400m benches configs/blt-400m-gpu.yaml against the same shapes (default blt-1b);
# BENCH_COMPILE=1 also times BltForCausalLM under torch.compile.
# SCALING_STRATEGIES / SCALING_SET narrow and override the scaling stage (bench/scaling.sh).
#         (multigpu, scaling, reducebpb and trace2 need 2 GPUs: nvidia-h200-x2; so does sweep with SWEEP_GPUS=2)
# Run from the repository root with .device staged by scripts/stage-gpu.sh.
# Logs go to $OUT (or ./gpu-logs); every stage is bounded by `timeout`.
set -uo pipefail
out=${OUT:-gpu-logs}
mkdir -p "$out"
source .device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
stage() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  tail -n "${TAIL:-15}" "$out/$name.log"
  return $rc
}
blt=build-gpu/bin/blt
# The configs' corpus (data/english.yaml) when it was installed, else this repository's text:
# throughput does not depend on which text it is. Sets $data to the --set arguments that select it
# and $train to its training shards.
data=()
train=data/shards/english/train
trace_set=()  # TRACE_SET as --set arguments
for kv in ${TRACE_SET:-}; do trace_set+=(--set "$kv"); done
corpus() {
  [ -d data/shards/english/train ] && return
  [ -d runs/gpu-corpus/train ] || "$blt" preprocess docs blt configs README.md --out runs/gpu-corpus >/dev/null 2>&1
  data=(--set data.train=runs/gpu-corpus/train --set data.valid=runs/gpu-corpus/valid)
  train=runs/gpu-corpus/train
}
# The threshold `blt patching threshold` picks for entropy model $1 and a mean patch of $2 bytes
# on $train (bf16, as the benches run it); empty when it fails.
entropy_threshold() {
  "$blt" patching threshold "$1" --data "$train" --mean-patch "$2" --seq-len 8192 --sequences 8 \
    --precision bf16 --device cuda --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["threshold"])'
}
for s in "$@"; do
  case "$s" in
    build) stage build 400 bash .device/build.sh || exit 1 ;;
    disttest) stage disttest 200 build-gpu/bin/blt_tests "[dist]" ;;
    test) stage ctest 300 bash -c 'cd build-gpu && ctest -j8 --output-on-failure --timeout 120' ;;
    parity)
      stage parity-cpu 200 python3 scripts/hf_parity.py --blt "$blt" --device cpu
      stage parity-cuda 200 python3 scripts/hf_parity.py --blt "$blt" --device cuda ;;
    export-parity)  # blt export --format hf, loaded by BltForCausalLM.from_pretrained, logits against blt's
      stage export-parity-cpu 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cpu --work runs/hf_export_parity
      stage export-parity-cuda 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cuda \
            --work runs/hf_export_parity_cuda
      # A trained checkpoint: `small` with the attention and patching HF has (whole-sequence causal, one byte per patch).
      stage export-train 300 "$blt" train configs/blt-small-gpu.yaml --set model.patching.static_size=1 \
            --set model.local_encoder.sliding_window=0 --set model.local_decoder.sliding_window=0 \
            --set model.document_mask=false --set data.seq_len=1024 --set data.batch_size=4 --set train.steps=20 \
            --set train.log_every=10 --set train.checkpoint_every=20 --set train.out_dir=runs/export-trained &&
      stage export-parity-trained 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cuda \
            --ckpt runs/export-trained/checkpoints/step-00000020 --work runs/hf_export_parity_trained ;;
    model)
      stage step-small 120 build-gpu/bin/bench_model_step configs/model/small.yaml --seq-len 8192 --batch 8
      stage step-1b 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 1 --steps 5 ;;
    checkpointing)  # activation checkpointing: memory saved and time paid on blt-1b
      stage step-1b-b4 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 4 --steps 3
      stage step-1b-b4-ckpt 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 4 --steps 3 --checkpointing ;;
    strategies)  # every dist.strategy at world size 1: overhead against ddp (no sharding) and peak memory
      corpus
      for st in ddp zero2 fsdp; do
        stage small-$st 200 "$blt" train configs/blt-small-gpu.yaml --set dist.strategy=$st --set train.steps=100 \
              --set train.checkpoint_every=0 --set train.out_dir=runs/small-$st "${data[@]}"
        stage 1b-$st 300 "$blt" train configs/blt-1b-gpu.yaml --set dist.strategy=$st --set train.steps=12 \
              --set train.log_every=4 --set train.out_dir=runs/1b-$st "${data[@]}"
      done ;;
    multigpu)  # 2 GPUs vs 1 for every strategy, resharding, launch.sh / torchrun / per-rank CUDA_VISIBLE_DEVICES
      stage multigpu 420 bash bench/multigpu_check.sh "$blt" "$out/multigpu-runs" ;;
    scaling)  # bytes/s, MFU, peak memory per GPU at 1 and 2 GPUs per strategy (small, blt-1b)
      stage scaling-small 280 bash bench/scaling.sh "$blt" "$out/scaling-small" configs/blt-small-gpu.yaml:30
      stage scaling-1b 560 bash bench/scaling.sh "$blt" "$out/scaling-1b" configs/blt-1b-gpu.yaml:10 ;;
    trainsmall) corpus; stage train-small 240 "$blt" train configs/blt-small-gpu.yaml "${data[@]}" ;;
    train1b) corpus; stage train-1b 400 "$blt" train configs/blt-1b-gpu.yaml "${data[@]}" ;;
    bench)  # issue 12: blt's training step against transformers' BltForCausalLM, same shapes, same GPU, one call
      corpus
      bench_set=()
      for kv in ${BENCH_SET:-}; do bench_set+=(--set "$kv"); done
      shape=${BENCH_SHAPE:-blt-1b}
      compile=()
      [ -n "${BENCH_COMPILE:-}" ] && compile=(--compile)  # BltForCausalLM under torch.compile too
      stage bench-$shape 580 python3 scripts/bench_hf.py --blt "$blt" --config configs/$shape-gpu.yaml --shape $shape \
        --modes "${BENCH_MODES:-bf16,amp}" --data "$train" "${compile[@]}" "${bench_set[@]}" ;;
    benchentropy)  # issue 12: the same with entropy patching in the loop (entropy-100m's shapes) at mean
      # patches ~4.5 and 8 (ENTROPY_PATCHES). HF's patcher and blt's entropy model share the weights of
      # entropy-100m trained ENTROPY_TRAIN_STEPS (default 300) steps on the corpus without its window (HF's
      # patcher has none): runs/entropy-100m-nowindow/model; ENTROPY_TRAIN_STEPS=0: random weights.
      corpus
      bench_set=()
      for kv in ${BENCH_SET:-}; do bench_set+=(--set "$kv"); done
      shape=${BENCH_SHAPE:-blt-1b}
      ckpt=()
      n=${ENTROPY_TRAIN_STEPS:-300}
      if [ "$n" -gt 0 ]; then
        [ -d runs/entropy-100m-nowindow/model ] || stage entropy-100m-nowindow 300 "$blt" train configs/entropy-100m-gpu.yaml \
          --set model.transformer.sliding_window=0 --set train.steps=$n --set train.optimizer.warmup_steps=$((n / 10)) \
          --set train.eval_every=0 --set train.checkpoint_every=$n --set train.out_dir=runs/entropy-100m-nowindow \
          "${data[@]}" || exit 1
        ckpt=(--entropy-checkpoint runs/entropy-100m-nowindow/model)
      fi
      for mp in ${ENTROPY_PATCHES:-4.5 8}; do
        stage bench-$shape-entropy-$mp 580 python3 scripts/bench_hf.py --blt "$blt" --config configs/$shape-gpu.yaml \
          --shape $shape --modes "${BENCH_MODES:-bf16}" --data "$train" --patching entropy --mean-patch $mp \
          "${ckpt[@]}" "${bench_set[@]}"
      done ;;
    traceentropy)  # where a blt-1b step with entropy patching spends its GPU time, idle stretches included
      # (after benchentropy, whose trained entropy model it uses; mean patch ENTROPY_PATCHES' first)
      corpus
      ckpt=runs/entropy-100m-nowindow/model
      mp=${ENTROPY_PATCHES:-4.5}; mp=${mp%% *}
      th=$(entropy_threshold $ckpt $mp)
      [ -n "$th" ] || { echo "traceentropy: no threshold (run benchentropy first)"; exit 1; }
      stage trace-entropy 300 "$blt" bench configs/blt-1b-gpu.yaml --set model.patching.mode=entropy \
        --set model.patching.entropy_model=$ckpt --set model.patching.threshold=$th --set model.patching.max_patch_length=0 \
        --set model.patching.entropy_precision=bf16 --steps 5 --warmup 3 --trace /tmp/blt-trace-entropy.json "${data[@]}" &&
        TAIL=70 stage trace-entropy-summary 60 python3 scripts/trace_summary.py /tmp/blt-trace-entropy.json --top 25 ;;
    kernels)  # the fused CUDA kernels against their LibTorch reference: accuracy (tests) and speed (docs/kernels.md)
      stage kernels-test 200 build-gpu/bin/blt_tests "[kernels]" &&
        stage kernels-bench 200 build-gpu/bin/bench_fused_ops --iters 20 ;;
    fused)  # a blt-1b training step with the fused kernels and with LibTorch's reference ops, same call
      corpus
      for on in false true; do
        stage fused-$on 300 "$blt" bench configs/blt-1b-gpu.yaml --set train.fused_kernels=$on --steps 5 --warmup 3 \
              "${data[@]}"
      done ;;
    sparse)  # a blt-1b training step with row-sparse hash-table updates (lazy AdamW) against dense AdamW
      corpus
      for on in false true; do
        stage sparse-$on 300 "$blt" bench configs/blt-1b-gpu.yaml --set train.optimizer.sparse_hash_rows=$on \
              --steps 5 --warmup 3 "${data[@]}"
      done ;;
    sparsebpb)  # what lazy AdamW on the hash tables does to bits/byte: `small` with blt-1b's 500002-row tables,
      # 300 steps on the default corpus, dense and sparse, same seed and data (needs data/shards/english)
      [ -d data/shards/english/train ] || { echo "sparsebpb: no data/shards/english (carry it)"; exit 1; }
      for on in false true; do
        stage sparsebpb-$on 300 "$blt" train configs/blt-small-gpu.yaml --set model.hash.vocab=500002 \
              --set train.optimizer.sparse_hash_rows=$on --set train.checkpoint_every=0 \
              --set train.out_dir=runs/sparsebpb-$on
      done ;;
    momentsbpb)  # what bf16 storage of the hash tables' AdamW moments does to bits/byte: as sparsebpb, both
      # runs with sparse rows, the tables' moments in float32 and in bfloat16 (train.optimizer.table_moments)
      [ -d data/shards/english/train ] || { echo "momentsbpb: no data/shards/english (carry it)"; exit 1; }
      for dt in float32 bfloat16; do
        stage momentsbpb-$dt 300 "$blt" train configs/blt-small-gpu.yaml --set model.hash.vocab=500002 \
              --set train.optimizer.sparse_hash_rows=true --set train.optimizer.table_moments=$dt \
              --set train.checkpoint_every=0 --set train.out_dir=runs/momentsbpb-$dt
      done ;;
    reducebpb)  # what summing gradients in bf16 (dist.reduce_dtype) does to bits/byte: `small`, ddp on 2 GPUs,
      # 300 steps on the default corpus, param and bfloat16 sums, same seed and data (needs data/shards/english)
      [ -d data/shards/english/train ] || { echo "reducebpb: no data/shards/english (carry it)"; exit 1; }
      for dt in param bfloat16; do
        stage reducebpb-$dt 300 bash scripts/launch.sh --nproc-per-node 2 -- "$blt" train configs/blt-small-gpu.yaml \
              --set dist.reduce_dtype=$dt --set train.checkpoint_every=0 --set train.out_dir=runs/reducebpb-$dt
      done ;;
    graphs)  # issue 12: train.cuda_graphs on and off, alternated, for blt-400m (host-bound) and blt-1b
      # (GPU-bound); then `BENCH_SHAPE=blt-400m bash bench/gpu_checks.sh bench` gives the ratio to HF
      corpus
      for round in 1 2; do
        for shape in blt-400m blt-1b; do
          for on in true false; do
            TAIL=${TAIL:-4} stage graphs-$shape-$on-$round 90 "$blt" bench configs/$shape-gpu.yaml --warmup 3 --steps 10 \
              --set train.cuda_graphs=$on "${data[@]}"
          done
        done
      done ;;
    trace)  # where a blt-1b step's GPU time goes, summed by kernel and kind of work (docs/perf.md)
      corpus
      stage trace-1b 300 "$blt" bench configs/blt-1b-gpu.yaml --steps 2 --warmup 2 --trace /tmp/blt-trace-1b.json \
        "${data[@]}" "${trace_set[@]}" && TAIL=100 stage trace-1b-summary 60 python3 scripts/trace_summary.py /tmp/blt-trace-1b.json --top 40 ;;
    versus)  # a change's effect: this tree's blt bench against the older tree in VERSUS_SRC (bench/versus.sh),
      # alternated on this machine; VERSUS_CONFIG (default configs/blt-1b-gpu.yaml), VERSUS_ROUNDS (2)
      corpus
      TAIL=12 stage versus 580 bash bench/versus.sh "${VERSUS_SRC:-build-versus-src}" \
        "${VERSUS_CONFIG:-configs/blt-1b-gpu.yaml}" "${VERSUS_ROUNDS:-2}" --warmup 3 --steps 10 "${data[@]}" ;;
    trace2)  # issue 11: a blt-1b ddp step on 2 GPUs traced (each rank its own file; rank 0's summed, with its
      # idle stretches): what backward loses beside the bucket all-reduces (needs 2 GPUs)
      corpus
      rm -rf runs/trace2
      stage trace2-1b 300 bash scripts/launch.sh --nproc-per-node 2 -- "$blt" bench configs/blt-1b-gpu.yaml --steps 2 \
        --warmup 2 --trace /tmp/blt-trace2-1b.json --out runs/trace2 "${data[@]}" "${trace_set[@]}" &&
        TAIL=100 stage trace2-1b-summary 60 python3 scripts/trace_summary.py /tmp/blt-trace2-1b.json.rank0 --top 40 --gaps 10 ;;
    patchcost)
      # Issue 12: what patching that varies per batch costs a training step. In the gpu-small sweep on two
      # H200s, space runs trained at 0.59 MB/s and entropy runs at 0.35 against static-4's 1.2 MB/s
      # (docs/results/gpu-small-2026-11-30). The `small` BLT on one GPU, 8 x 8192 bytes: static-4, space
      # (no model: only the shapes vary), and entropy with the sweep's entropy model and threshold when
      # `sweep` ran before in the same machine; a kernel trace of the space step.
      corpus
      for mode in static space; do
        stage patchcost-$mode 200 "$blt" bench configs/blt-small-gpu.yaml --set model.patching.mode=$mode \
              --steps 20 --warmup 5 "${data[@]}"
      done
      sweep_entropy=runs/sweeps/gpu-small/runs/small-entropy-3e14/run.yaml
      [ -f $sweep_entropy ] && stage patchcost-entropy 200 "$blt" bench $sweep_entropy --set data.batch_size=8 \
              --steps 20 --warmup 5
      stage patchcost-space-trace 200 "$blt" bench configs/blt-small-gpu.yaml --set model.patching.mode=space \
            --steps 2 --warmup 5 --trace /tmp/blt-trace-space.json "${data[@]}" &&
        TAIL=40 stage patchcost-space-summary 60 python3 scripts/trace_summary.py /tmp/blt-trace-space.json --top 25 ;;
    patchcost1b)  # issue 12: what entropy patching costs a blt-1b training step with the entropy-100m preset
      # (512-byte window, bf16, configs/entropy-100m-gpu.yaml after one step: the weights do not change the
      # cost), the threshold picked by `blt patching threshold` for a mean patch of ENTROPY_PATCHES bytes
      corpus
      ckpt=runs/entropy-100m-1step/model
      [ -d $ckpt ] || stage entropy-100m-1step 200 "$blt" train configs/entropy-100m-gpu.yaml --set train.steps=1 \
        --set train.checkpoint_every=1 --set train.eval_every=0 --set data.batch_size=2 \
        --set train.out_dir=runs/entropy-100m-1step "${data[@]}" || exit 1
      for mp in ${ENTROPY_PATCHES:-4.5}; do
        th=$(entropy_threshold $ckpt $mp)
        [ -n "$th" ] || { echo "patchcost1b: no threshold for mean patch $mp"; exit 1; }
        stage patchcost1b-entropy-$mp 300 "$blt" bench configs/blt-1b-gpu.yaml --set model.patching.mode=entropy \
          --set model.patching.entropy_model=$ckpt --set model.patching.threshold=$th \
          --set model.patching.entropy_precision=bf16 --steps 10 --warmup 3 "${data[@]}"
      done ;;
    benchsmall)
      corpus
      stage bench-small 300 python3 scripts/bench_hf.py --blt "$blt" --config configs/blt-small-gpu.yaml --shape small \
        --batch 8 --data "$train" ;;
    # configs/sweeps/gpu-small.yaml (docs/sweeps.md), issue 13. If it outlasts one call, the next
    # call continues it (finished runs skipped, the run cut by the limit resumed from its checkpoint);
    # the report follows the last run. Reads data/shards/english (carry it: scripts/get-data.sh
    # makes it on the CPU machine). SWEEP_LIMIT (seconds, default 570) leaves room for other
    # stages in the same call. SWEEP_GPUS=2 (nvidia-h200-x2) runs every run through
    # scripts/launch.sh on two ranks, the global batch divided over them (acceptance 3).
    sweep)
      [ -d data/shards/english/train ] || { echo "sweep: no data/shards/english (carry it)"; exit 1; }
      gpus=${SWEEP_GPUS:-1}; world=(--world-size "$gpus"); launch=()
      [ "$gpus" -gt 1 ] && launch=(--launcher "scripts/launch.sh --nproc-per-node $gpus --")
      stage sweep "${SWEEP_LIMIT:-570}" "$blt" sweep run configs/sweeps/gpu-small.yaml "${world[@]}" "${launch[@]}" &&
        stage sweep-report 120 "$blt" sweep report configs/sweeps/gpu-small.yaml "${world[@]}"
      cp runs/sweeps/gpu-small/sweep.csv runs/sweeps/gpu-small/*.png "$out"/ 2>/dev/null ;;
    generate)
      # Greedy generation speed, blt-1b shapes, random weights, 256 new bytes after the same prompt, EOS never
      # chosen, entropy threshold set for ~4.5-byte patches on the prompt: transformers' BltForCausalLM.generate
      # (its patcher: the entropy-100m shapes), then blt's cached path (bench_generate: entropy-100m as patcher).
      for dt in ${GEN_DTYPES:-bf16 fp32}; do
        stage gen-hf-$dt 300 python3 scripts/bench_generate_hf.py --shape blt-1b --dtype $dt --device cuda \
          --new-bytes 256 --repeats 1 ||
          stage gen-hf-$dt-nocache 300 python3 scripts/bench_generate_hf.py --shape blt-1b --dtype $dt --device cuda \
            --new-bytes 256 --repeats 1 --no-cache
        stage gen-blt-$dt 300 build-gpu/bin/bench_generate --config configs/model/blt-1b.yaml \
          --entropy-config configs/model/entropy-100m.yaml --device cuda --dtype $dt --bytes 256
      done ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
