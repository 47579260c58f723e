#!/usr/bin/env bash
# Runs Chronicle's bench, raw C SQLite running Chronicle's own SQL (cbench
# with bench/cbench), and the Python original's benchmark in interleaved
# rounds on this machine, then prints the medians. Needs the reference
# harness of ../shared/perf (see BENCHMARKS.md).
#
#   RUNS=5 bench/compare.sh            # from the repository's root
#   SKIP_PYTHON=1 RUNS=3 bench/compare.sh
#   ENGINES="wasm cgo" bench/compare.sh  # also the chronicle_cgo build;
#                                        # its labels end in -cgo
#   WORKLOADS=write bench/compare.sh     # only the W1/W2 rounds
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
perf=${PERF_DIR:-$root/../shared/perf}
runs=${RUNS:-5}
out=${RESULTS:-/tmp/chronicle-compare-$(date +%Y%m%d-%H%M%S).jsonl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cbench=$("$perf/build.sh" | tail -1)
engines=${ENGINES:-wasm}
workloads=${WORKLOADS:-all}
for e in $engines; do
    case $e in
    wasm) (cd "$root" && go build -o "$tmp/chronicle-wasm" ./cmd/chronicle) ;;
    cgo) (cd "$root" && go build -tags chronicle_cgo -o "$tmp/chronicle-cgo" ./cmd/chronicle) ;;
    *) echo "compare: unknown engine $e (wasm, cgo)" >&2; exit 2 ;;
    esac
done
cfg="$root/bench/cbench"

# ours runs Chronicle's bench once per engine; the cgo build's labels get a
# -cgo suffix.
ours() {
    local label=$1; shift
    for e in $engines; do
        local l=$label
        if [ "$e" != wasm ]; then l=$label-$e; fi
        "$tmp/chronicle-$e" bench --json --label "$l" "$@"
    done
}

echo "compare: $runs round(s); results in $out" >&2
for r in $(seq 1 "$runs"); do
    echo "compare: round $r/$runs" >&2
    {
        ours rr --workloads W1,W2 --layout rr
        "$cbench" --config "$cfg" --workloads W1,W2 --layout rr --label rr
        ours blocks --workloads W1,W2 --layout blocks
        "$cbench" --config "$cfg" --workloads W1,W2 --layout blocks --label blocks
        ours seed-shape --workloads W1,W2 --layout single
        "$cbench" --config "$cfg" --workloads W1,W2 --seed-shape --label seed-shape
        if [ "$workloads" = all ]; then
            ours fresh --workloads W3,W4,W5,W6
            "$cbench" --config "$cfg" --workloads W3,W4 --label fresh
            if [ -z "${SKIP_PYTHON:-}" ]; then "$perf/run-seed-bench.sh"; fi
        fi
    } | tee -a "$out"
done
(cd "$perf" && go run summarize.go <"$out")
