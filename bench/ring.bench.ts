/**
 * `npm run bench -- ring`: the token ring's producer paths on the same SharedArrayBuffer layout.
 *  - push: pure-JS TokenRing.push (Atomics over the SAB) vs the native writer called through N-API,
 *    for 4/8/16/64/256-byte tokens, as bytes and as strings (what the gateway pushes);
 *  - push+read cycles: 64 pushes then one read() of them, JS vs native producer, same JS consumer;
 *  - cross-thread streaming: a C++ producer thread vs a worker_thread JS producer feeding a main-thread
 *    consumer parked in wait(), tokens/s end to end.
 * The pure-JS producer is the in-run baseline. Writes bench/results/ring.json.
 */
import b from 'benny';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loadBinding } from '../lib/native/binding.js';
import { TokenRing } from '../lib/native/token-ring.js';

interface RingBinding {
  push(view: Int32Array, bytes: Uint8Array): number;
  pushString(view: Int32Array, text: string): number;
  produceOnThread(view: Int32Array, payload: Uint8Array, lengths: Uint32Array, repeat: number, close: number): Promise<number>;
}

const SIZES = [4, 8, 16, 64, 256];
const CASE = { minSamples: 10, maxTime: 1 };

interface Row {
  group: string;
  size: number;
  impl: string;
  opsPerSec: number;
  nsPerOp: number;
}

function token(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => 97 + (i % 26));
}

async function suite(group: string, size: number, cases: Record<string, () => unknown>, rows: Row[]): Promise<void> {
  await b.suite(
    `ring ${group} ${size}B`,
    ...Object.entries(cases).map(([impl, fn]) => b.add(impl, fn, CASE)),
    b.cycle(),
    b.complete((summary) => {
      for (const r of summary.results) rows.push({ group, size, impl: r.name, opsPerSec: r.ops, nsPerOp: 1e9 / r.ops });
    }),
  );
}

/** A persistent worker_thread that, per message, attaches a ring and pushes `count` tokens, then closes it. */
function jsProducerWorker(): Worker {
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { register } = await import('tsx/esm/api');
      register();
      const { TokenRing } = await import(workerData.url);
      parentPort.on('message', ({ buffer, count, size }) => {
        const ring = TokenRing.attach(buffer);
        const tok = Uint8Array.from({ length: size }, (_, i) => 97 + (i % 26));
        for (let i = 0; i < count; i++) ring.push(tok);
        ring.close('done');
        parentPort.postMessage('done');
      });
      parentPort.postMessage('ready');
    })();
  `;
  return new Worker(src, { eval: true, workerData: { url: new URL('../lib/native/token-ring.ts', import.meta.url).href } });
}

async function consumeAll(ring: TokenRing): Promise<number> {
  let after = -1;
  let n = 0;
  for (;;) {
    const outcome = await ring.wait(after);
    const recs = ring.read(after);
    n += recs.length;
    if (recs.length > 0) after = recs[recs.length - 1]!.seq;
    if (outcome === 'closed') return n;
  }
}

export default async function run(): Promise<void> {
  const native = loadBinding().ring as RingBinding;
  const rows: Row[] = [];

  // Warm both paths up first, so the first measured case does not pay for JIT compilation.
  const warm = TokenRing.create({ capacityBytes: 1 << 16 });
  for (let i = 0; i < 200_000; i++) {
    const tok = token(SIZES[i % SIZES.length]!);
    warm.push(tok);
    native.push(warm.nativeView, tok);
    warm.push('warm');
    native.pushString(warm.nativeView, 'warm');
    if (i % 64 === 0) warm.read(Math.max(-1, warm.nextSeq - 32));
  }

  for (const size of SIZES) {
    const ring = TokenRing.create({ capacityBytes: 1 << 20 });
    const tok = token(size);
    await suite('push bytes', size, {
      'JS TokenRing.push': () => ring.push(tok),
      'native push (N-API)': () => native.push(ring.nativeView, tok),
    }, rows);
  }
  for (const size of [4, 16, 64]) {
    const ring = TokenRing.create({ capacityBytes: 1 << 20 });
    const text = 'x'.repeat(size);
    await suite('push string', size, {
      'JS TokenRing.push': () => ring.push(text),
      'native pushString (N-API)': () => native.pushString(ring.nativeView, text),
    }, rows);
  }
  for (const size of [8, 64]) {
    const ring = TokenRing.create({ capacityBytes: 1 << 20 });
    const tok = token(size);
    let after = -1;
    const drain = () => {
      const recs = ring.read(after);
      after = recs[recs.length - 1]!.seq;
    };
    await suite('64 pushes + read', size, {
      'JS producer': () => {
        for (let i = 0; i < 64; i++) ring.push(tok);
        drain();
      },
      'native producer (N-API)': () => {
        for (let i = 0; i < 64; i++) native.push(ring.nativeView, tok);
        drain();
      },
    }, rows);
  }

  // Cross-thread streaming, timed by hand: each run is one ring, one producer, one parked consumer.
  const count = 100_000;
  const worker = jsProducerWorker();
  await new Promise((resolve) => worker.once('message', resolve));
  for (const size of [8, 64]) {
    const tok = token(size);
    const runs: Record<string, number[]> = { 'C++ producer thread': [], 'worker_thread JS producer': [] };
    for (let rep = 0; rep < 5; rep++) {
      {
        const ring = TokenRing.create({ capacityBytes: 1 << 24 });
        const t0 = performance.now();
        const consumed = consumeAll(ring);
        await native.produceOnThread(ring.nativeView, tok, Uint32Array.of(size), count, 1);
        const n = await consumed;
        runs['C++ producer thread']!.push((n / (performance.now() - t0)) * 1000);
      }
      {
        const ring = TokenRing.create({ capacityBytes: 1 << 24 });
        const t0 = performance.now();
        const consumed = consumeAll(ring);
        const done = new Promise((resolve) => worker.once('message', resolve));
        worker.postMessage({ buffer: ring.buffer, count, size });
        await done;
        const n = await consumed;
        runs['worker_thread JS producer']!.push((n / (performance.now() - t0)) * 1000);
      }
    }
    for (const [impl, rates] of Object.entries(runs)) {
      const median = rates.sort((x, y) => x - y)[Math.floor(rates.length / 2)]!;
      rows.push({ group: `stream ${count} tokens across threads`, size, impl, opsPerSec: median, nsPerOp: 1e9 / median });
      console.log(`ring stream ${size}B ${impl}: ${Math.round(median).toLocaleString('en')} tokens/s (median of 5)`);
    }
  }
  await worker.terminate();

  const table = ['| group | token bytes | implementation | ops/s | ns/op |', '|---|---|---|---|---|'];
  for (const r of rows) {
    table.push(`| ${r.group} | ${r.size} | ${r.impl} | ${Math.round(r.opsPerSec).toLocaleString('en')} | ${r.nsPerOp.toFixed(1)} |`);
  }
  console.log(`\n${table.join('\n')}`);
  writeFileSync(
    new URL('./results/ring.json', import.meta.url),
    `${JSON.stringify({ bench: 'ring', date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, rows }, null, 2)}\n`,
  );
}
