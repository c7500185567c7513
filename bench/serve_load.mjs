// Load client for `ponder serve`: N concurrent clients each send streaming chat completions
// back to back for a fixed time. Prints one JSON line: requests, failures, per-client token
// counts (starvation shows as a client with few or none), aggregate tokens/s, TTFT p50/p99.
// Usage: node serve_load.mjs URL CLIENTS SECONDS [MAX_TOKENS]   (Node 18+, no packages)
const [url, clientsArg, secondsArg, maxTokensArg] = process.argv.slice(2);
const clients = Number(clientsArg), seconds = Number(secondsArg);
const maxTokens = Number(maxTokensArg ?? 64);
const deadline = Date.now() + seconds * 1000;
const topics = ["a dog", "the sea", "a red ball", "two friends", "a rainy day", "the moon"];

const ttfts = [];
let requests = 0, failed = 0, tokens = 0;
const perClient = new Array(clients).fill(0);
const errors = new Map();

async function oneRequest(i, n) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      messages: [{ role: "user", content: `Tell me a story about ${topics[(i + n) % topics.length]}.` }],
      max_tokens: maxTokens, temperature: 0.8, seed: i * 1000 + n, stream: true,
    }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", first = true, done = false, got = 0;
  while (!done) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buf += dec.decode(value, { stream: true });
    let p;
    while ((p = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, p);
      buf = buf.slice(p + 2);
      if (!ev.startsWith("data: ")) continue;
      const data = ev.slice(6);
      if (data === "[DONE]") { done = true; break; }
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message);
      const d = j.choices[0]?.delta;
      if (d && (d.content || d.reasoning_content)) {
        if (first) { ttfts.push(performance.now() - t0); first = false; }
        ++got;
      }
    }
  }
  if (!done) throw new Error("stream ended without [DONE]");
  return got;
}

async function client(i) {
  for (let n = 0; Date.now() < deadline; ++n) {
    ++requests;
    try {
      const got = await oneRequest(i, n);
      tokens += got;
      perClient[i] += got;
    } catch (e) {
      ++failed;
      errors.set(String(e.message), (errors.get(String(e.message)) ?? 0) + 1);
    }
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
const elapsed = (performance.now() - t0) / 1000;
ttfts.sort((a, b) => a - b);
const pct = (q) => (ttfts.length ? ttfts[Math.min(ttfts.length - 1, Math.floor(q * ttfts.length))] : null);
console.log(JSON.stringify({
  clients, seconds: Number(elapsed.toFixed(2)), requests, failed,
  errors: Object.fromEntries(errors),
  tokens, tokens_per_s: Number((tokens / elapsed).toFixed(1)),
  ttft_ms_p50: pct(0.5) && Number(pct(0.5).toFixed(1)),
  ttft_ms_p99: pct(0.99) && Number(pct(0.99).toFixed(1)),
  per_client_tokens_min: Math.min(...perClient), per_client_tokens_max: Math.max(...perClient),
}));
