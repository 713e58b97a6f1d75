/**
 * `npm run bench -- kernels`: single-threaded matvec throughput per weight type, scalar reference
 * vs AVX2, on a 2048×4096 matrix (one 4096-wide activation, quantized per call as the engine does).
 * Reported as GB/s of weight bytes streamed, from benny's mean and from its fastest sample (the
 * machine is shared, and the fastest sample is the one least disturbed by other processes); the
 * scalar path is the in-run baseline.
 * Writes bench/results/kernels.json.
 */
import b from 'benny';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gaussian, kernels, WEIGHT_TYPES, type Impl } from '../test/kernels/support/kernels.js';

const ROWS = 2048;
const COLS = 4096;
/** DRAM-bound decode shape: DRAM_ROWS rows (≥150 MB for Q4_0, far past the 32 MB L3), AVX2 only. */
const DRAM_ROWS = 65536;
const DRAM_TYPES = ['Q4_0', 'Q8_0', 'Q4_K', 'Q6_K'] as const;
/** Prefill shape: MM_VECS activations against the first MM_ROWS rows (matmul, AVX2 tiles). */
const MM_ROWS = 512;
const MM_VECS = 16;

interface Row {
  type: string;
  impl: Impl;
  weightBytes: number;
  opsPerSec: number;
  msPerMatvec: number;
  gbPerSec: number;
  gweightsPerSec: number;
  bestGbPerSec: number;
  bestGweightsPerSec: number;
  marginPct: number;
}

export default async function run(): Promise<void> {
  const k = kernels();
  const impls: Impl[] = k.hasAvx2() ? ['scalar', 'avx2'] : ['scalar'];
  const x = gaussian(COLS, 2);
  const source = gaussian(ROWS * COLS, 1);
  const weights = new Map<string, Uint8Array>();
  for (const type of WEIGHT_TYPES) {
    process.stdout.write(`quantizing ${ROWS}×${COLS} to ${type}…\n`);
    weights.set(type, k.quantize(k.types[type]!, source));
  }

  const rows: Row[] = [];
  const prefill: { type: string; impl: Impl; gmacPerSec: number; bestGmacPerSec: number; vsMatvec: number }[] = [];
  const xs = gaussian(MM_VECS * COLS, 3);
  for (const type of WEIGHT_TYPES) {
    const w = weights.get(type)!;
    const id = k.types[type]!;
    const prefix = w.subarray(0, MM_ROWS * k.rowSize(id, COLS));
    await b.suite(
      `kernels matvec ${type} ${ROWS}x${COLS}`,
      ...impls.map((impl) => b.add(`${type} ${impl}`, () => k.matvec(id, w, ROWS, COLS, x, { impl }), { minSamples: 8, maxTime: 1.5 })),
      ...impls
        .filter((impl) => impl === 'avx2')
        .map((impl) =>
          b.add(`${type} ${impl} matmul`, () => k.matmul(id, prefix, MM_ROWS, COLS, xs, MM_VECS, { impl }), {
            minSamples: 8,
            maxTime: 1.5,
          }),
        ),
      b.cycle(),
      b.complete((summary) => {
        for (const r of summary.results) {
          const impl = r.name.split(' ')[1] as Impl;
          if (r.name.includes('matmul')) {
            const macs = MM_ROWS * COLS * MM_VECS;
            prefill.push({ type, impl, gmacPerSec: (r.ops * macs) / 1e9, bestGmacPerSec: macs / r.details.min / 1e9, vsMatvec: 0 });
            continue;
          }
          rows.push({
            type,
            impl,
            weightBytes: w.length,
            opsPerSec: r.ops,
            msPerMatvec: 1000 / r.ops,
            gbPerSec: (r.ops * w.length) / 1e9,
            gweightsPerSec: (r.ops * ROWS * COLS) / 1e9,
            bestGbPerSec: w.length / r.details.min / 1e9,
            bestGweightsPerSec: (ROWS * COLS) / r.details.min / 1e9,
            marginPct: r.margin,
          });
        }
      }),
    );
  }

  // Decode from DRAM: the 2048 quantized rows repeated to DRAM_ROWS (same bytes, far bigger than L3).
  const dram: { type: string; mb: number; gbPerSec: number; bestGbPerSec: number }[] = [];
  if (k.hasAvx2()) {
    for (const type of DRAM_TYPES) {
      const w = weights.get(type)!;
      const big = new Uint8Array(w.length * (DRAM_ROWS / ROWS));
      for (let o = 0; o < big.length; o += w.length) big.set(w, o);
      const id = k.types[type]!;
      const packedBig = type === 'Q4_0' ? k.packQ4_0x8(big, DRAM_ROWS, COLS) : big;
      await b.suite(
        `kernels matvec ${type} ${DRAM_ROWS}x${COLS} (DRAM)`,
        b.add(`${type} avx2 dram`, () => k.matvec(id, big, DRAM_ROWS, COLS, x, { impl: 'avx2' }), { minSamples: 8, maxTime: 2 }),
        // the engine multiplies Q4_0 matrices of rows % 8 == 0 from its packed 8-row copy
        ...(type === 'Q4_0'
          ? [
              b.add(`${type} avx2 dram packed`, () => k.matvec(id, packedBig, DRAM_ROWS, COLS, x, { impl: 'avx2', packed: true }), {
                minSamples: 8,
                maxTime: 2,
              }),
            ]
          : []),
        b.cycle(),
        b.complete((summary) => {
          for (const r of summary.results) {
            const name = r.name.endsWith('packed') ? `${type} (packed)` : type;
            dram.push({ type: name, mb: big.length / 1e6, gbPerSec: (r.ops * big.length) / 1e9, bestGbPerSec: big.length / r.details.min / 1e9 });
          }
        }),
      );
    }
  }

  const table = [
    '| type | weight MB | scalar GB/s (best) | avx2 GB/s (best) | speed-up | avx2 Gweights/s | avx2 ms/matvec (±%) |',
    '|---|---|---|---|---|---|---|',
    ...WEIGHT_TYPES.map((type) => {
      const s = rows.find((r) => r.type === type && r.impl === 'scalar');
      const a = rows.find((r) => r.type === type && r.impl === 'avx2');
      const mb = ((s?.weightBytes ?? 0) / 1e6).toFixed(1);
      const gb = (r: Row | undefined) => (r ? `${r.gbPerSec.toFixed(2)} (${r.bestGbPerSec.toFixed(2)})` : '–');
      return `| ${type} | ${mb} | ${gb(s)} | ${gb(a)} | ${
        s && a ? (a.gbPerSec / s.gbPerSec).toFixed(1) + '×' : '–'
      } | ${a?.gweightsPerSec.toFixed(2) ?? '–'} | ${a ? `${a.msPerMatvec.toFixed(2)} (±${a.marginPct.toFixed(0)}%)` : '–'} |`;
    }),
  ].join('\n');
  for (const p of prefill) {
    const mv = rows.find((r) => r.type === p.type && r.impl === p.impl);
    if (mv) p.vsMatvec = p.bestGmacPerSec / mv.bestGweightsPerSec; // one MAC per weight in a matvec
  }
  const prefillTable = [
    `| type | avx2 matmul ${MM_ROWS}×${COLS} × ${MM_VECS} vectors, GMAC/s (best) | best vs one matvec |`,
    '|---|---|---|',
    ...prefill.map(
      (p) => `| ${p.type} | ${p.gmacPerSec.toFixed(2)} (${p.bestGmacPerSec.toFixed(2)}) | ${p.vsMatvec.toFixed(2)}× |`,
    ),
  ].join('\n');
  const dramTable = [
    `| type | avx2 matvec ${DRAM_ROWS}×${COLS} from DRAM: MB | GB/s mean (best) |`,
    '|---|---|---|',
    ...dram.map((d) => `| ${d.type} | ${d.mb.toFixed(0)} | ${d.gbPerSec.toFixed(2)} (${d.bestGbPerSec.toFixed(2)}) |`),
  ].join('\n');
  console.log(`\n${table}\n\n${prefillTable}\n\n${dramTable}\n`);

  writeFileSync(
    new URL('./results/kernels.json', import.meta.url),
    JSON.stringify(
      {
        bench: 'kernels',
        date: new Date().toISOString(),
        machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, avx2: k.hasAvx2() },
        shape: { rows: ROWS, cols: COLS, threads: 1 },
        results: rows,
        prefill: { rows: MM_ROWS, cols: COLS, vectors: MM_VECS, results: prefill },
        dram: { rows: DRAM_ROWS, cols: COLS, results: dram },
      },
      null,
      2,
    ) + '\n',
  );
}
