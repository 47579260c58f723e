#!/usr/bin/env bash
# Runs Chronicle's bench, raw C SQLite running Chronicle's own SQL (cbench
# with bench/cbench), and the Python original's benchmark in interleaved
# rounds on this machine, then prints the medians. Needs the reference
# harness of ../shared/perf (see BENCHMARKS.md).
#
#   RUNS=5 bench/compare.sh            # from the repository's root
#   SKIP_PYTHON=1 RUNS=3 bench/compare.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
perf=${PERF_DIR:-$root/../shared/perf}
runs=${RUNS:-5}
out=${RESULTS:-/tmp/chronicle-compare-$(date +%Y%m%d-%H%M%S).jsonl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cbench=$("$perf/build.sh" | tail -1)
(cd "$root" && go build -o "$tmp/chronicle" ./cmd/chronicle)
ours="$tmp/chronicle bench --json"
cfg="$root/bench/cbench"

echo "compare: $runs round(s); results in $out" >&2
for r in $(seq 1 "$runs"); do
    echo "compare: round $r/$runs" >&2
    {
        $ours --workloads W1,W2 --layout rr --label rr
        "$cbench" --config "$cfg" --workloads W1,W2 --layout rr --label rr
        $ours --workloads W1,W2 --layout blocks --label blocks
        "$cbench" --config "$cfg" --workloads W1,W2 --layout blocks --label blocks
        $ours --workloads W1,W2 --layout single --label seed-shape
        "$cbench" --config "$cfg" --workloads W1,W2 --seed-shape --label seed-shape
        $ours --workloads W3,W4,W5,W6 --label fresh
        "$cbench" --config "$cfg" --workloads W3,W4 --label fresh
        if [ -z "${SKIP_PYTHON:-}" ]; then "$perf/run-seed-bench.sh"; fi
    } | tee -a "$out"
done
(cd "$perf" && go run summarize.go <"$out")
