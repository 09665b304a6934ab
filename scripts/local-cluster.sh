#!/usr/bin/env bash
# Brings up a local Titan cluster — a master and two workers (one GENERAL, one GPU) — runs a
# sample job and the sample pipelines, and keeps the cluster up until Ctrl-C.
#
#   scripts/local-cluster.sh            build (release), start, run the sample, wait for Ctrl-C
#   scripts/local-cluster.sh --no-wait  ... and stop right after the sample (smoke test)
#   BUILD=debug scripts/local-cluster.sh
#   TITAN_PORT=9191 scripts/local-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[ "${1:-}" = "--no-wait" ] && wait_for_ctrl_c=0
build=${BUILD:-release}
port=${TITAN_PORT:-9090}

scripts/install-deps.sh
swift build -c "$build" >&2
bin=$(swift build -c "$build" --show-bin-path)
logs=$(mktemp -d -t titan-cluster.XXXXXX)
pids=()
stop() {
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 130' INT TERM

"$bin/titan-node" --role master --port "$port" --data-dir "$logs/master-data" >"$logs/master.out" 2>"$logs/master.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$logs/master.out" 2>/dev/null && break; sleep 0.05; done
grep -q listening "$logs/master.out" || { echo "master did not start:" >&2; cat "$logs/master.log" >&2; exit 1; }
export TITAN_MASTER=127.0.0.1:$port
"$bin/titan-node" --role worker --id worker-1 --permanent >"$logs/worker-1.log" 2>&1 &
pids+=($!)
"$bin/titan-node" --role worker --id gpu-1 --cap GPU --permanent >"$logs/gpu-1.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [ "$("$bin/titan" workers --json | grep -c '"id"')" = 2 ] && break; sleep 0.05
done

echo "== titan workers"
"$bin/titan" workers
echo "== titan run Samples/hello.sh"
"$bin/titan" run Samples/hello.sh
echo "== titan run --cap GPU -- uname -a"
"$bin/titan" run --cap GPU -- uname -a
echo "== titan submit Samples/diamond.yaml --wait"
"$bin/titan" submit Samples/diamond.yaml --wait
echo "== titan logs of the diamond's report"
"$bin/titan" logs "$("$bin/titan" dags --json | grep -m1 '"id"' | sed 's/.*"id" : "\(.*\)".*/\1/')/report"
echo "== titan submit Samples/gpu-step.yaml --wait"
"$bin/titan" submit Samples/gpu-step.yaml --wait
echo "== titan jobs; titan dags"
"$bin/titan" jobs
"$bin/titan" dags

if [ "$wait_for_ctrl_c" = 1 ]; then
  echo
  echo "Cluster up at $TITAN_MASTER (logs in $logs). Try:"
  echo "  export TITAN_MASTER=$TITAN_MASTER PATH=$bin:\$PATH"
  echo "  titan run -- sh -c 'echo hi; exit 3'; titan jobs; titan workers"
  echo "  titan submit Samples/fan-out-fan-in.yaml --wait; titan dags; titan status dag-1"
  echo "Ctrl-C stops it."
  wait "${pids[0]}"
fi
