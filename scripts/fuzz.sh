#!/usr/bin/env bash
# Long, coverage-guided fuzzing of one decoder with libFuzzer (the Fuzz/ package, built with
# -sanitize=fuzzer,address). CI runs the bounded in-process fuzzer of the test suite instead.
#   scripts/fuzz.sh TARGET [SECONDS]     e.g. scripts/fuzz.sh native-codec 600
# Targets: native-codec frames v1-codec kv-mutation aof-replay pipeline-yaml cron.
# The corpus grows in Fuzz/corpus/TARGET; a crash leaves its input in Fuzz/artifacts/ (replay it:
# Fuzz/.build/debug/fuzz-TARGET FILE). More libFuzzer flags after SECONDS are passed through.
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
swift build -c debug --product "fuzz-$target" -Xswiftc -sanitize=fuzzer,address
mkdir -p "corpus/$target" artifacts
# -malloc_limit_mb: one allocation past it is a failure (a length field believed); -timeout: a
# single input running longer is a hang.
exec ".build/debug/fuzz-$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 \
    -artifact_prefix=artifacts/ "$@" "corpus/$target"
