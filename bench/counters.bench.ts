/**
 * `npm run bench -- counters`: breaker counter updates on a SharedArrayBuffer.
 *  - baseline: JS `Atomics.add` on one Int32 lane (a bare counter, no window, no epoch);
 *  - pure-JS equivalent of record(): the same epoch-keyed CAS on a BigInt64Array lane;
 *  - native BreakerCounters.record() (std::atomic_ref behind N-API);
 *  - probe acquire/release: JS Atomics.compareExchange vs native tryAcquireProbe + releaseProbe.
 * Writes bench/results/counters.json.
 */
import b from 'benny';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { BreakerCounters } from '../lib/native/breaker-counters.js';

interface Row {
  group: string;
  impl: string;
  opsPerSec: number;
  nsPerOp: number;
}

const CASE = { minSamples: 10, maxTime: 1 };
const BUCKET_MS = 1000;
const BUCKETS = 10;

/** record() in pure JS: the word is (epoch << 32) | count, replaced whole when its epoch is stale. */
function jsRecord(lanes: BigInt64Array, failures: Int32Array, slot: number, outcome: number, nowMs: number): void {
  const epoch = Math.floor(nowMs / BUCKET_MS) >>> 0;
  const idx = slot * BUCKETS * 3 + (epoch % BUCKETS) * 3 + outcome;
  const epochBig = BigInt(epoch);
  let w = Atomics.load(lanes, idx);
  for (;;) {
    const next = BigInt.asUintN(32, w >> 32n) === epochBig ? w + 1n : (epochBig << 32n) | 1n;
    const seen = Atomics.compareExchange(lanes, idx, w, next);
    if (seen === w) break;
    w = seen;
  }
  if (outcome === 0) Atomics.store(failures, slot, 0);
  else Atomics.add(failures, slot, 1);
}

export default async function run(): Promise<void> {
  const rows: Row[] = [];
  const collect = (group: string) =>
    b.complete((summary) => {
      for (const r of summary.results) rows.push({ group, impl: r.name, opsPerSec: r.ops, nsPerOp: 1e9 / r.ops });
    });

  const native = BreakerCounters.create({ slots: 4, buckets: BUCKETS, bucketMs: BUCKET_MS });
  const sab = new SharedArrayBuffer(4 * BUCKETS * 3 * 8 + 64);
  const lanes = new BigInt64Array(sab, 0, 4 * BUCKETS * 3);
  const failures = new Int32Array(sab, 4 * BUCKETS * 3 * 8, 4);
  const bare = new Int32Array(new SharedArrayBuffer(64));
  let t = Date.now();

  await b.suite(
    'counters record',
    b.add('JS Atomics.add (bare counter, baseline)', () => Atomics.add(bare, 0, 1), CASE),
    b.add('JS epoch-CAS record (same semantics)', () => jsRecord(lanes, failures, 1, 1, t++), CASE),
    b.add('native BreakerCounters.record', () => native.record(1, 'failure', t++), CASE),
    b.cycle(),
    collect('record'),
  );

  native.transition(2, 'closed', 'open', 1);
  native.transition(2, 'open', 'half-open', 1);
  const probes = new Int32Array(new SharedArrayBuffer(64));
  await b.suite(
    'counters probe acquire+release',
    b.add('JS Atomics.compareExchange', () => {
      const p = Atomics.load(probes, 0);
      if (p < 1 && Atomics.compareExchange(probes, 0, p, p + 1) === p) Atomics.sub(probes, 0, 1);
    }, CASE),
    b.add('native tryAcquireProbe+releaseProbe', () => {
      if (native.tryAcquireProbe(2, 1)) native.releaseProbe(2);
    }, CASE),
    b.cycle(),
    collect('probe'),
  );

  await b.suite(
    'counters snapshot',
    b.add('native snapshot (10 buckets)', () => native.snapshot(1, t), CASE),
    b.cycle(),
    collect('snapshot'),
  );

  const table = ['| operation | implementation | ops/s | ns/op |', '|---|---|---|---|'];
  for (const r of rows) table.push(`| ${r.group} | ${r.impl} | ${Math.round(r.opsPerSec).toLocaleString('en')} | ${r.nsPerOp.toFixed(1)} |`);
  console.log(`\n${table.join('\n')}`);
  writeFileSync(
    new URL('./results/counters.json', import.meta.url),
    `${JSON.stringify({ bench: 'counters', date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, rows }, null, 2)}\n`,
  );
}
