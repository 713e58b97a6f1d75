/**
 * End-to-end relay benchmark: M concurrent streams read through `abi serve` versus the same streams
 * read directly from the upstream, in the same run.
 *
 * - The upstream is a minimal OpenAI-compatible SSE server in its own process; it emits N tokens per
 *   stream as fast as it can (throughput run) or 20 ms apart (latency run). Every token's content is
 *   the upstream's send time, so the client measures each token's delivery latency directly.
 * - abi runs as `node bin/abi.js serve` in its own child process (a fresh one per M), so its CPU time
 *   (/proc/<pid>/stat) and peak RSS (VmHWM) are its own.
 * - The client (this process) is the same for both paths.
 *
 * Reports relayed tokens/s vs direct, added time-to-first-token p50/p99 and added per-token latency
 * p50/p99 (relayed minus direct, 20 ms run), CPU time per relayed token and peak RSS, for M = 1, 100,
 * 1000. The same figures for a raw byte pipe (node:http + undici, no parsing; PIPE_SOURCE) measured in
 * the same run show what any Node relay on this machine pays before abi does anything. Writes bench/results/relay.json. Needs `npm run build` (npm run bench does it).
 *
 *   npm run bench -- relay                 # all M
 *   ABI_RELAY_M=100 npm run bench -- relay # one M
 *   ABI_RELAY_PROFILE=throughput|latency … # that phase's abi runs with --cpu-prof (profile in bench/results/)
 *   ABI_RELAY_RING_BYTES=16384 …           # abi runs with recovery.session.ringBytes set (memory per stream)
 *   ABI_RELAY_NODE_FLAGS='--optimize-for-size' …  # node flags for the abi child only
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = new URL(
  `./results/relay${process.env.ABI_RELAY_RING_BYTES ? `-ring${process.env.ABI_RELAY_RING_BYTES}` : ''}${process.env.ABI_RELAY_NODE_FLAGS ? '-flags' : ''}.json`,
  import.meta.url,
);
const CLK_TCK = 100;
/** Node/V8 flags for the abi child only (e.g. `--optimize-for-size`); unset = Node's defaults. */
const NODE_FLAGS = (process.env.ABI_RELAY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** Session replay buffer per stream (recovery.session.ringBytes); unset = the default. */
const RING_BYTES = process.env.ABI_RELAY_RING_BYTES ? Number(process.env.ABI_RELAY_RING_BYTES) : undefined;

/** The upstream, written to a temp file and run with plain node. */
const UPSTREAM_SOURCE = `
import http from 'node:http';
import net from 'node:net';
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);
const server = http.createServer((req, res) => {
  if (req.method === 'GET') { res.writeHead(200, {'content-type':'application/json'}); res.end('{"object":"list","data":[{"id":"bench","object":"model"}]}'); return; }
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const req0 = JSON.parse(body);
    const { tokens, delayMs } = JSON.parse(req0.messages[0].content);
    const usage = req0.stream_options && req0.stream_options.include_usage;
    const head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"bench","choices":';
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: ' + head + '[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\\n\\n');
    let i = 0;
    let closed = false;
    res.on('close', () => (closed = true));
    const finish = () => {
      res.write('data: ' + head + '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\\n\\n');
      if (usage) res.write('data: ' + head + '[],"usage":{"prompt_tokens":1,"completion_tokens":' + tokens + ',"total_tokens":' + (tokens + 1) + '}}\\n\\n');
      res.end('data: [DONE]\\n\\n');
    };
    const chunk = () => 'data: ' + head + '[{"index":0,"delta":{"content":"' + now() + ' "},"logprobs":null,"finish_reason":null}]}\\n\\n';
    if (delayMs > 0) {
      const tick = () => {
        if (closed) return;
        res.write(chunk());
        if (++i >= tokens) return finish();
        setTimeout(tick, delayMs);
      };
      tick();
      return;
    }
    const pump = () => {
      while (i < tokens && !closed) {
        i++;
        if (!res.write(chunk())) return void res.once('drain', pump);
      }
      if (!closed) finish();
    };
    pump();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

/**
 * The baseline the issue names: a raw byte pipe (node:http server + undici Pool, the same transport
 * abi uses) that forwards the upstream's bytes without parsing or re-encoding anything. What abi
 * adds on top of it is the cost of the gateway itself. Run with plain node like the upstream.
 */
const PIPE_SOURCE = `
import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(process.argv[2] + '/package.json');
const { Pool } = require('undici');
const pool = new Pool(process.argv[3], { connections: 4096 });
const server = http.createServer(async (req, res) => {
  let body = '';
  for await (const d of req) body += d;
  const up = await pool.request({ method: 'POST', path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json' } });
  res.writeHead(up.statusCode, { 'content-type': 'text/event-stream' });
  res.socket.setNoDelay(true);
  for await (const chunk of up.body) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
  res.end();
});
server.listen(0, '127.0.0.1', () => process.stdout.write('abi listening on http://127.0.0.1:' + server.address().port + '\\n'));
`;

interface StreamResult {
  tokens: number;
  /** ms from request start to the first content token. */
  ttftMs: number;
  /** Per-token delivery latency (receive time minus upstream send time), ms. */
  latenciesMs: number[];
}

interface RunStats {
  streams: number;
  tokensPerStream: number;
  tokens: number;
  seconds: number;
  tokensPerSec: number;
  ttftP50: number;
  ttftP99: number;
  latencyP50: number;
  latencyP99: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const clock = (): number => performance.timeOrigin + performance.now();

function waitForLine(proc: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`child exited (${code}) before ready: ${out} ${err.slice(-2000)}`)));
  });
}

/** One streamed completion; records TTFT and every token's latency. */
function oneStream(agent: http.Agent, url: string, tokens: number, delayMs: number): Promise<StreamResult> {
  const body = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: JSON.stringify({ tokens, delayMs }) }] });
  return new Promise((resolve, reject) => {
    const started = clock();
    const result: StreamResult = { tokens: 0, ttftMs: NaN, latenciesMs: [] };
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', reject);
    req.on('socket', (s) => s.setNoDelay(true));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      const parser = createParser({
        onEvent: (ev) => {
          if (ev.data === '[DONE]') return;
          const content = (JSON.parse(ev.data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
          if (!content) return;
          const now = clock();
          if (result.tokens === 0) result.ttftMs = now - started;
          result.tokens++;
          result.latenciesMs.push(now - Number.parseFloat(content));
        },
      });
      res.setEncoding('utf8');
      res.on('data', (d: string) => parser.feed(d));
      res.on('end', () => resolve(result));
      res.on('error', reject);
    });
    req.end(body);
  });
}

/**
 * Runs `rounds` × `m` streams. With `spreadMs`, the m starts are spread evenly over that time, so each
 * stream's TTFT is measured while the others are already streaming (steady load, not a thundering herd).
 */
async function runStreams(url: string, m: number, tokens: number, delayMs: number, rounds = 1, spreadMs = 0): Promise<RunStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const started = clock();
  const results: StreamResult[] = [];
  const startAt = (i: number): Promise<StreamResult> =>
    spreadMs > 0
      ? new Promise((r) => setTimeout(r, (i * spreadMs) / m)).then(() => oneStream(agent, url, tokens, delayMs))
      : oneStream(agent, url, tokens, delayMs);
  for (let r = 0; r < rounds; r++) results.push(...(await Promise.all(Array.from({ length: m }, (_, i) => startAt(i)))));
  const seconds = (clock() - started) / 1000;
  agent.destroy();
  const total = results.reduce((s, r) => s + r.tokens, 0);
  if (total !== m * tokens * rounds) throw new Error(`lost tokens: got ${total}, expected ${m * tokens * rounds}`);
  const ttfts = results.map((r) => r.ttftMs);
  const lat = results.flatMap((r) => r.latenciesMs.slice(1));
  return {
    streams: m,
    tokensPerStream: tokens,
    tokens: total,
    seconds,
    tokensPerSec: total / seconds,
    ttftP50: percentile(ttfts, 50),
    ttftP99: percentile(ttfts, 99),
    latencyP50: percentile(lat, 50),
    latencyP99: percentile(lat, 99),
  };
}

/**
 * Opens `m` streams of `tokens` fast tokens through abi and never reads past the response headers,
 * then holds them for `holdMs`: abi must pause its upstreams instead of buffering whole answers.
 */
async function slowReaders(port: number, m: number, tokens: number, holdMs: number): Promise<void> {
  const body = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: JSON.stringify({ tokens, delayMs: 0 }) }] });
  const request = `POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const sockets = await Promise.all(
    Array.from(
      { length: m },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => s.write(request));
          s.once('data', () => {
            s.pause();
            resolve(s);
          });
          s.once('error', reject);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, holdMs));
  for (const s of sockets) s.destroy();
}

/** utime+stime of a process in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startAbi(upstreamUrl: string, dir: string, profile: boolean): Promise<{ proc: ChildProcess; url: string }> {
  const configPath = join(dir, 'abi.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { maxConcurrentStreams: 5000, heartbeatMs: 60_000 },
      backends: { up: { type: 'openai', baseUrl: upstreamUrl, maxConnections: 4096 } },
      ...(RING_BYTES ? { recovery: { session: { ringBytes: RING_BYTES } } } : {}),
    }),
  );
  const args = [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('./results/', import.meta.url))}`] : []), join(ROOT, 'bin/abi.js'), 'serve', '--config', configPath, '--port', '0'];
  const proc = spawn(process.execPath, [...NODE_FLAGS, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ABI_LOG_LEVEL: 'warn' } });
  const m = await waitForLine(proc, /abi listening on (http:\/\/\S+)/);
  return { proc, url: m[1]! };
}

async function startPipe(upstreamOrigin: string, file: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [file, ROOT, upstreamOrigin], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = await waitForLine(proc, /abi listening on (http:\/\/\S+)/);
  return { proc, url: m[1]! };
}

async function stopChild(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill(signal);
  await exited;
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

export default async function relayBench(): Promise<void> {
  const only = process.env.ABI_RELAY_M ? [Number(process.env.ABI_RELAY_M)] : [1, 100, 1000];
  const profile = process.env.ABI_RELAY_PROFILE ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'abi-relay-'));
  const upstreamFile = join(dir, 'upstream.mjs');
  writeFileSync(upstreamFile, UPSTREAM_SOURCE);
  const pipeFile = join(dir, 'pipe.mjs');
  writeFileSync(pipeFile, PIPE_SOURCE);
  const upstream = spawn(process.execPath, [upstreamFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = Number((await waitForLine(upstream, /port (\d+)/))[1]);
  const upstreamUrl = `http://127.0.0.1:${port}/v1`;
  const directUrl = `${upstreamUrl}/chat/completions`;
  const tokensFor: Record<number, number> = { 1: 20_000, 100: 1_000, 1000: 100 };
  const rows: unknown[] = [];
  try {
    for (const m of only) {
      const n = tokensFor[m] ?? Math.max(50, Math.floor(100_000 / m));
      // Throughput: a fresh abi, warmed (JIT, pools) on both paths, then direct and relayed.
      // Warm-up opens M upstream connections: undici is slow to open many at once (measured: a cold
      // burst of 300 waits ~1 s), and the bench measures the relay, not connection set-up.
      // Each path is warmed right before it is measured: idle keep-alive connections expire (the
      // upstream's 5 s keep-alive), so a warm-up followed by another path's run would measure
      // connection set-up again.
      await runStreams(directUrl, m, 50, 0);
      const direct = await runStreams(directUrl, m, n, 0);
      let abi = await startAbi(upstreamUrl, dir, profile === 'throughput');
      let relayUrl = `${abi.url}/v1/chat/completions`;
      await runStreams(relayUrl, m, 50, 0);
      const cpuBefore = cpuMs(abi.proc.pid!);
      const relayed = await runStreams(relayUrl, m, n, 0);
      const cpuPerTokenUs = ((cpuMs(abi.proc.pid!) - cpuBefore) * 1000) / relayed.tokens;
      const throughputRssMb = peakRssMb(abi.proc.pid!);
      await stopChild(abi.proc);
      let pipe = await startPipe(`http://127.0.0.1:${port}`, pipeFile);
      const pipeUrl = (): string => `${pipe.url}/v1/chat/completions`;
      await runStreams(pipeUrl(), m, 50, 0);
      const pipeCpuBefore = cpuMs(pipe.proc.pid!);
      const piped = await runStreams(pipeUrl(), m, n, 0);
      const pipeCpuPerTokenUs = ((cpuMs(pipe.proc.pid!) - pipeCpuBefore) * 1000) / piped.tokens;
      await stopChild(pipe.proc);

      // Latency: 20 ms between tokens, 100 tokens (2 s) per stream, starts spread over 1 s so that
      // M streams run at once in the second half; small M repeats rounds for a distribution. A fresh
      // abi, so its peak RSS is that of M concurrent paced streams.
      const latencyTokens = 100;
      const rounds = m < 100 ? 10 : 1;
      const spreadMs = 1000;
      const directLat = await runStreams(directUrl, m, latencyTokens, 20, rounds, spreadMs);
      abi = await startAbi(upstreamUrl, dir, profile === 'latency');
      relayUrl = `${abi.url}/v1/chat/completions`;
      await runStreams(relayUrl, m, 20, 0);
      const relayedLat = await runStreams(relayUrl, m, latencyTokens, 20, rounds, spreadMs);
      const rssMb = peakRssMb(abi.proc.pid!);
      await stopChild(abi.proc);
      pipe = await startPipe(`http://127.0.0.1:${port}`, pipeFile);
      await runStreams(pipeUrl(), m, 20, 0);
      const pipedLat = await runStreams(pipeUrl(), m, latencyTokens, 20, rounds, spreadMs);
      const pipeRssMb = peakRssMb(pipe.proc.pid!);
      await stopChild(pipe.proc);

      // Slow readers: M clients that stop reading after the headers, each asking for 5000 fast tokens.
      abi = await startAbi(upstreamUrl, dir, false);
      await slowReaders(Number(new URL(abi.url).port), m, 5000, 3000);
      const slowRssMb = peakRssMb(abi.proc.pid!);
      // Its detached streams would wait out the drain grace; the measurement is taken, so no drain.
      await stopChild(abi.proc, 'SIGKILL');

      const row = {
        streams: m,
        tokensPerStream: n,
        directTokensPerSec: Math.round(direct.tokensPerSec),
        relayedTokensPerSec: Math.round(relayed.tokensPerSec),
        relayedOverDirect: round(relayed.tokensPerSec / direct.tokensPerSec),
        pipeTokensPerSec: Math.round(piped.tokensPerSec),
        pipeOverDirect: round(piped.tokensPerSec / direct.tokensPerSec),
        pipeAddedTtftP50Ms: round(pipedLat.ttftP50 - directLat.ttftP50),
        pipeAddedTtftP99Ms: round(pipedLat.ttftP99 - directLat.ttftP99),
        pipeCpuUsPerToken: round(pipeCpuPerTokenUs, 2),
        pipePeakRssMbLatencyRun: round(pipeRssMb, 1),
        ttftDirectP50Ms: round(directLat.ttftP50),
        ttftDirectP99Ms: round(directLat.ttftP99),
        ttftRelayedP50Ms: round(relayedLat.ttftP50),
        ttftRelayedP99Ms: round(relayedLat.ttftP99),
        addedTtftP50Ms: round(relayedLat.ttftP50 - directLat.ttftP50),
        addedTtftP99Ms: round(relayedLat.ttftP99 - directLat.ttftP99),
        tokenLatencyDirectP50Ms: round(directLat.latencyP50),
        tokenLatencyDirectP99Ms: round(directLat.latencyP99),
        tokenLatencyRelayedP50Ms: round(relayedLat.latencyP50),
        tokenLatencyRelayedP99Ms: round(relayedLat.latencyP99),
        addedInterTokenP50Ms: round(relayedLat.latencyP50 - directLat.latencyP50),
        addedInterTokenP99Ms: round(relayedLat.latencyP99 - directLat.latencyP99),
        cpuUsPerRelayedToken: round(cpuPerTokenUs, 2),
        peakRssMbLatencyRun: round(rssMb, 1),
        peakRssMbThroughputRun: round(throughputRssMb, 1),
        peakRssMbSlowReaders: round(slowRssMb, 1),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    await stopChild(upstream);
  }
  const out = {
    bench: 'relay',
    date: new Date().toISOString(),
    node: process.version,
    command: `${RING_BYTES ? `ABI_RELAY_RING_BYTES=${RING_BYTES} ` : ''}${NODE_FLAGS.length ? `ABI_RELAY_NODE_FLAGS='${NODE_FLAGS.join(' ')}' ` : ''}npm run bench -- relay`,
    nodeFlags: NODE_FLAGS,
    ringBytes: RING_BYTES ?? 'default',
    targets: { relayedOverDirect: '>= 0.5', addedTtftP99MsAt100: '<= 2', peakRssMbAt1000: '<= 100' },
    machine: '2-core x86-64 Debian 12 (shared with other work while measuring)',
    rows,
  };
  writeFileSync(RESULTS, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${fileURLToPath(RESULTS)}`);
}
