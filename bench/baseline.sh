#!/usr/bin/env bash
# The issue-5 benchmark set: random-weight files with the exact shapes of Qwen2.5-0.5B in Q8_0,
# Q4_0 and Q4_K_M, each measured with `ponder bench` (pp512 / tg128), plus tg after a 4096-token
# context for Q4_0. Prints one JSON object per run (a line each) and a summary table.
#
# usage: bench/baseline.sh [-t THREADS] [-r REPS] [-d DIR] [-b BUILD_DIR] [--no-depth]
#   DIR (default /tmp/ponder-synth) keeps the synthesized files between runs.
set -euo pipefail

threads=2
reps=3
dir=/tmp/ponder-synth
build=build
depth=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -t) threads="$2"; shift 2 ;;
        -r) reps="$2"; shift 2 ;;
        -d) dir="$2"; shift 2 ;;
        -b) build="$2"; shift 2 ;;
        --no-depth) depth=0; shift ;;
        *) echo "usage: $0 [-t THREADS] [-r REPS] [-d DIR] [-b BUILD_DIR] [--no-depth]" >&2; exit 2 ;;
    esac
done

ponder="$build/ponder"
[[ -x "$ponder" ]] || { echo "$0: $ponder not found; build first" >&2; exit 1; }
mkdir -p "$dir"
results="$dir/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"

for type in Q8_0 Q4_0 Q4_K_M; do
    f="$dir/qwen2.5-0.5b-$type.gguf"
    [[ -f "$f" ]] || "$ponder" synth --like qwen2.5-0.5b --type "$type" -t "$threads" -o "$f" 2>/dev/null
done

run() {  # label, then bench arguments
    local label="$1"; shift
    echo "== $label: $ponder bench $*" >&2
    "$ponder" bench "$@" --json 2>/dev/null | sed "s/^{/{\"label\":\"$label\",/" | tee -a "$results"
}

for type in Q8_0 Q4_0 Q4_K_M; do
    run "$type" -m "$dir/qwen2.5-0.5b-$type.gguf" -p 512 -n 128 -r "$reps" -t "$threads"
done
if [[ $depth == 1 ]]; then
    run "Q4_0 d4096" -m "$dir/qwen2.5-0.5b-Q4_0.gguf" -p 0 -n 32 -r "$reps" -t "$threads" \
        --ctx-depth 4096
fi

echo >&2
python3 - "$results" <<'EOF' >&2
import json, sys
print(f"{'run':<12} {'pp t/s':>9} {'tg t/s':>9} {'tg range':>17} {'GB/s':>6} {'% bound':>8} {'load s':>7} {'RSS MiB':>8}")
for line in open(sys.argv[1]):
    j = json.loads(line)
    tg = j["tg"]
    print(f"{j['label']:<12} {j['pp_tokens_per_s']:9.1f} {j['tg_tokens_per_s']:9.1f} "
          f"{tg['min']:8.1f}-{tg['max']:<8.1f} {j['bandwidth_gbps']:6.1f} "
          f"{j['tg_bandwidth_pct']:8.1f} {j['load_s']:7.3f} {j['peak_rss_bytes'] / 2**20:8.0f}")
EOF
echo "results: $results" >&2
