// End-to-end: `ponder serve` driven by the official openai npm client.
// Env: PONDER_BIN (the ponder program), PONDER_SHARED (../shared with models and goldens).
import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import OpenAI from "openai";

const BIN = process.env.PONDER_BIN;
const SHARED = process.env.PONDER_SHARED;
assert.ok(BIN && SHARED, "set PONDER_BIN and PONDER_SHARED");
const model = (f) => `${SHARED}/models/${f}`;

// Starts a server on a free port; resolves once /health says 200.
async function startServer(args) {
  const proc = spawn(BIN, ["serve", "--port", "0", "-t", "1", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
  for (let i = 0; i < 300; ++i) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.status === 200) break;
      assert.equal(r.status, 503); // loading
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
  return { proc, port, url: `http://127.0.0.1:${port}`, exited, log: () => log };
}

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, "ok"]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, "FAIL"]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

async function expectStatus(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    assert.equal(e.status, status, `${e.message}`);
    assert.ok(e.error && typeof e.error.message === "string", "OpenAI error object");
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

const main = await startServer([
  "-m", model("stories260K.gguf"), "--parallel", "4", "-c", "2048", "--max-body-kib", "64",
  "--alias", "stories",
]);
const client = new OpenAI({ baseURL: `${main.url}/v1`, apiKey: "unused", maxRetries: 0 });
const greedy = { temperature: 0 };

await test("models lists the alias", async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ["stories"]);
});

await test("chat completion: shape and usage", async () => {
  const r = await client.chat.completions.create({
    model: "stories", messages: [{ role: "user", content: "Tell me a story" }],
    max_tokens: 12, ...greedy,
  });
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, "stories");
  assert.equal(typeof r.created, "number");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 0);
});

await test("completion: usage counts the tokenizer's prompt tokens", async () => {
  const r = await client.completions.create({
    model: "stories", prompt: "Once upon a time", max_tokens: 10, ...greedy,
  });
  assert.equal(r.object, "text_completion");
  const tok = await (await fetch(`${main.url}/tokenize`, {
    method: "POST", body: JSON.stringify({ content: "Once upon a time", add_special: true }),
  })).json();
  assert.equal(r.usage.prompt_tokens, tok.tokens.length);
  assert.equal(r.usage.completion_tokens, 10);
  assert.ok(r.choices[0].text.length > 0);
});

await test("streaming equals not streaming (chat and completions)", async () => {
  const messages = [{ role: "user", content: "Tell me a story" }];
  const whole = await client.chat.completions.create({
    model: "stories", messages, max_tokens: 16, ...greedy,
  });
  const stream = await client.chat.completions.create({
    model: "stories", messages, max_tokens: 16, ...greedy, stream: true,
    stream_options: { include_usage: true },
  });
  let text = "", first = true, finish = null, usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const c = chunk.choices[0];
    if (first) assert.equal(c.delta.role, "assistant");
    first = false;
    text += c.delta.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);

  const cw = await client.completions.create({
    model: "stories", prompt: "The little dog", max_tokens: 16, ...greedy,
  });
  let ct = "";
  for await (const chunk of await client.completions.create({
    model: "stories", prompt: "The little dog", max_tokens: 16, ...greedy, stream: true,
  })) ct += chunk.choices[0]?.text ?? "";
  assert.equal(ct, cw.choices[0].text);
});

await test("stop strings cut the text (string and list)", async () => {
  const base = await client.completions.create({
    model: "stories", prompt: "Once upon a time", max_tokens: 24, ...greedy,
  });
  const text = base.choices[0].text;
  const words = text.split(" ");
  assert.ok(words.length > 4, text);
  const stop = " " + words[3];
  for (const s of [stop, [stop, "zzzz"]]) {
    const r = await client.completions.create({
      model: "stories", prompt: "Once upon a time", max_tokens: 24, ...greedy, stop: s,
    });
    assert.equal(r.choices[0].text, text.slice(0, text.indexOf(stop)));
    assert.equal(r.choices[0].finish_reason, "stop");
  }
  const c = await client.chat.completions.create({
    model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 24, ...greedy,
  });
  const ctext = c.choices[0].message.content;
  if (ctext.length > 6) {
    const cstop = ctext.slice(3, 6);
    const cs = await client.chat.completions.create({
      model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 24, ...greedy,
      stop: cstop,
    });
    assert.equal(cs.choices[0].message.content, ctext.slice(0, ctext.indexOf(cstop)));
  }
});

await test("seeded sampling is deterministic; n > 1 gives indexed choices", async () => {
  const req = {
    model: "stories", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 24,
    temperature: 1.0, top_p: 1.0, seed: 77, n: 3,
  };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1, "choices all equal");
  // Streamed n > 1: every index gets a role chunk and a finish_reason.
  const seen = new Map();
  for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) {
    for (const c of chunk.choices) {
      const s = seen.get(c.index) ?? { text: "", finish: null };
      s.text += c.delta.content ?? "";
      if (c.finish_reason) s.finish = c.finish_reason;
      seen.set(c.index, s);
    }
  }
  assert.deepEqual([...seen.keys()].sort(), [0, 1, 2]);
  for (const [i, s] of seen) assert.equal(s.text, a.choices[i].message.content);
});

await test("logprobs", async () => {
  const r = await client.chat.completions.create({
    model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 4, ...greedy,
    logprobs: true, top_logprobs: 2,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 4);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
    assert.equal(t.top_logprobs[0].logprob, t.logprob); // greedy: the chosen token is the top
  }
});

await test("errors: 400 bad type, 400 missing field, 400 too long, 413, 404", async () => {
  await expectStatus(client.chat.completions.create({ model: "x", messages: [],
    temperature: "hot" }), 400);
  await expectStatus(client.chat.completions.create({ model: "x" }), 400);
  const e = await expectStatus(client.completions.create({
    model: "x", prompt: "Once upon a time ".repeat(200), max_tokens: 4,
  }), 400);
  assert.match(e.message, /prompt has \d+ tokens but the context holds 512 tokens/);
  await expectStatus(client.completions.create({
    model: "x", prompt: "a".repeat(100 * 1024), max_tokens: 1,
  }), 413);
  const nf = await fetch(`${main.url}/v1/nothing`);
  assert.equal(nf.status, 404);
  const bad = await fetch(`${main.url}/v1/chat/completions`, { method: "POST", body: "{oops" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.type, "invalid_request_error");
});

await test("metrics count the requests", async () => {
  const t = await (await fetch(`${main.url}/metrics`)).text();
  assert.match(t, /ponder_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+/);
  assert.match(t, /ponder_requests_total\{endpoint="\/v1\/completions",status="413"\} 1/);
  assert.match(t, /ponder_time_to_first_token_seconds_count [1-9]/);
  assert.match(t, /ponder_inter_token_latency_seconds_bucket\{le="\+Inf"\} [1-9]/);
});

await test("client disconnect cancels the sequence", async () => {
  const generated = async () => Number((await (await fetch(`${main.url}/metrics`)).text())
    .match(/\nponder_generated_tokens_total (\d+)/)[1]);
  const before = await generated();
  const ac = new AbortController();
  const s = await client.completions.create({
    model: "x", prompt: "Once upon a time", max_tokens: 480, ...greedy, stream: true,
  }, { signal: ac.signal });
  let n = 0;
  try {
    for await (const _ of s) if (++n === 3) ac.abort();
  } catch {}
  let active = -1;
  for (let i = 0; i < 100 && active !== 0; ++i) {
    await new Promise((r) => setTimeout(r, 20));
    const t = await (await fetch(`${main.url}/metrics`)).text();
    active = Number(t.match(/\nponder_active_sequences (\d+)/)[1]);
  }
  assert.equal(active, 0);
  assert.ok((await generated()) - before < 480, "the cancelled request ran to its end");
});

await test("SIGTERM finishes the in-flight stream and exits 0", async () => {
  const s = await client.completions.create({
    model: "x", prompt: "Once upon a time", max_tokens: 200, ...greedy, stream: true,
  });
  let text = "", finish = null, n = 0;
  for await (const chunk of s) {
    if (++n === 2) main.proc.kill("SIGTERM");
    text += chunk.choices[0]?.text ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(finish === "length" || finish === "stop", `finish ${finish}`);
  const { code } = await main.exited;
  assert.equal(code, 0);
  assert.match(main.log(), /SIGTERM received/);
});

// 401 and 429 on a server with a key, one slot and no queue.
const locked = await startServer([
  "-m", model("tiny-llama-F32.gguf"), "--parallel", "1", "-c", "1024", "--max-queue", "0",
  "--api-key", "sesame",
]);
await test("401 without or with a wrong key; 429 when the queue is full", async () => {
  for (const key of ["wrong", ""]) {
    const c = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: key || "none", maxRetries: 0 });
    await expectStatus(c.models.list(), 401);
  }
  const ok = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: "sesame", maxRetries: 0 });
  const long = await ok.completions.create({
    model: "x", prompt: "hi", max_tokens: 900, ...greedy, stream: true,
  });
  const it = long[Symbol.asyncIterator]();
  await it.next(); // the long request holds the only slot
  await expectStatus(ok.completions.create({ model: "x", prompt: "hi", max_tokens: 2 }), 429);
  await it.return?.();
});
locked.proc.kill("SIGTERM");
assert.equal((await locked.exited).code, 0);

// Reasoning fields: a Qwen3-architecture model with a template that opens <think>.
const thinker = await startServer([
  "-m", model("tiny-qwen3-F16.gguf"), "--parallel", "2", "-c", "512", "--chat-template",
  `${SHARED}/golden/chat-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja`,
]);
const tc = new OpenAI({ baseURL: `${thinker.url}/v1`, apiKey: "unused", maxRetries: 0 });
await test("reasoning_content and reasoning_tokens on a thinking template", async () => {
  const req = {
    model: "x", messages: [{ role: "user", content: "Why is the sky blue?" }], max_tokens: 16,
    ...greedy, max_thinking_tokens: 4,
  };
  const r = await tc.chat.completions.create(req);
  const m = r.choices[0].message;
  assert.ok(m.reasoning_content.length > 0);
  assert.equal(m.reasoning, m.reasoning_content);
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens >= 4);
  let reasoning = "", content = "";
  for await (const chunk of await tc.chat.completions.create({ ...req, stream: true })) {
    const d = chunk.choices[0]?.delta ?? {};
    reasoning += d.reasoning_content ?? "";
    content += d.content ?? "";
  }
  assert.equal(reasoning, m.reasoning_content);
  assert.equal(content, m.content);
  const off = await tc.chat.completions.create({ ...req, reasoning_effort: "none" });
  assert.equal(off.choices[0].message.reasoning_content, undefined);
  assert.equal(off.usage.completion_tokens_details.reasoning_tokens, 0);
});
thinker.proc.kill("SIGTERM");
assert.equal((await thinker.exited).code, 0);

const failed = results.filter(([, r]) => r !== "ok");
console.log(`${results.length - failed.length}/${results.length} passed`);
process.exit(failed.length ? 1 : 0);
