#!/usr/bin/env bash
# Starts a multi-process job the way torchrun does, for machines without Python:
#
#   scripts/launch.sh --nproc-per-node N [--nnodes M --node-rank R --master-addr HOST] \
#                     [--master-port P] -- build/bin/blt train CONFIG [--set ...]
#
# Each process gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
# MASTER_PORT. SIGINT/SIGTERM are forwarded to every rank. If any rank exits with an
# error, the others are stopped (TERM, then KILL after a grace period) and the
# launcher exits with that rank's status.
set -uo pipefail

nproc=1 nnodes=1 node_rank=0 master_addr=127.0.0.1 master_port=29500 grace=10
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-1}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc-per-node|--nproc) nproc=$2; shift 2 ;;
    --nnodes) nnodes=$2; shift 2 ;;
    --node-rank) node_rank=$2; shift 2 ;;
    --master-addr) master_addr=$2; shift 2 ;;
    --master-port) master_port=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "launch: unknown option '$1'" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || { echo "launch: no command given (put it after --)" >&2; usage; }
for v in nproc nnodes node_rank master_port grace; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "launch: --${v//_/-} must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
[ "$nproc" -ge 1 ] && [ "$nnodes" -ge 1 ] && [ "$node_rank" -lt "$nnodes" ] || { echo "launch: bad process counts" >&2; exit 2; }

world=$((nproc * nnodes))
pids=()
for ((local = 0; local < nproc; local++)); do
  RANK=$((node_rank * nproc + local)) WORLD_SIZE=$world LOCAL_RANK=$local LOCAL_WORLD_SIZE=$nproc \
  MASTER_ADDR=$master_addr MASTER_PORT=$master_port "$@" &
  pids+=($!)
done

stop_all() {
  local signal=$1
  for pid in "${pids[@]}"; do kill -"$signal" "$pid" 2>/dev/null; done
}
trap 'stop_all TERM' TERM
trap 'stop_all INT' INT

status=0
live=("${pids[@]}")
while [ ${#live[@]} -gt 0 ]; do
  done_pid=
  wait -n -p done_pid "${live[@]}"
  code=$?
  [ -n "$done_pid" ] || continue  # a forwarded signal interrupted the wait
  rest=()
  for pid in "${live[@]}"; do [ "$pid" = "$done_pid" ] || rest+=("$pid"); done
  live=("${rest[@]}")
  if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$code
    echo "launch: a rank (pid $done_pid) exited with status $code; stopping the others" >&2
    stop_all TERM
    ( sleep "$grace"; stop_all KILL ) >/dev/null 2>&1 &  # keeps no pipe of ours open
    killer=$!
  fi
done
[ -z "${killer:-}" ] || kill "$killer" 2>/dev/null
exit "$status"
