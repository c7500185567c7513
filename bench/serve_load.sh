#!/usr/bin/env bash
# Load test of `ponder serve`: aggregate tokens/s and TTFT for 1, 4, 8, 16 concurrent streaming
# clients, then 32 clients for the long run with the server's RSS sampled every second.
# Pass criteria (issue 7): zero failed requests, RSS flat after warm-up, every client got
# tokens (per_client_tokens_min > 0).
#
# Usage: bench/serve_load.sh [PONDER_BIN]
#   env MODEL (default ../shared/models/stories260K.gguf; a bigger one: ponder synth --like
#   qwen2.5-0.5b --type Q4_0 -o /tmp/q.gguf), PARALLEL (8), CTX (8192), THREADS (0: all),
#   STEP_SECONDS (20, per concurrency level), LONG_SECONDS (60), MAX_TOKENS (64).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/ponder}
model=${MODEL:-$here/../../shared/models/stories260K.gguf}
parallel=${PARALLEL:-8} ctx=${CTX:-8192} threads=${THREADS:-0}
step=${STEP_SECONDS:-20} long=${LONG_SECONDS:-60} max_tokens=${MAX_TOKENS:-64}
log=$(mktemp)
"$bin" serve -m "$model" --port 0 --parallel "$parallel" -c "$ctx" -t "$threads" \
  --max-queue 64 --no-log 2>"$log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 200); do
  port=$(grep -o 'listening on http://[^ ]*' "$log" | sed 's/.*://' || true)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port"
echo "model $model, parallel $parallel, ctx $ctx, url $url"
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
for c in 1 4 8 16; do
  node "$here/serve_load.mjs" "$url" "$c" "$step" "$max_tokens"
done
echo "32 clients for ${long}s; RSS (KiB) every second:"
node "$here/serve_load.mjs" "$url" 32 "$long" "$max_tokens" &
load=$!
samples=()
while kill -0 $load 2>/dev/null; do samples+=("$(rss)"); sleep 1; done
wait $load
echo "rss_kib ${samples[*]}"
curl -s "$url/metrics" | grep -E '^ponder_(requests_total|generated_tokens_total|prompt_tokens_cached_total)'
kill -TERM $pid
wait $pid && echo "server exited 0 after SIGTERM"
trap - EXIT
rm -f "$log"
