/**
 * `npm run bench -- kernels`: single-threaded matvec throughput per weight type, scalar reference
 * vs AVX2, on a 2048×4096 matrix (one 4096-wide activation, quantized per call as the engine does).
 * Reported as GB/s of weight bytes streamed; the scalar path is the in-run baseline.
 * Writes bench/results/kernels.json.
 */
import b from 'benny';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gaussian, kernels, WEIGHT_TYPES, type Impl } from '../test/kernels/support/kernels.js';

const ROWS = 2048;
const COLS = 4096;

interface Row {
  type: string;
  impl: Impl;
  weightBytes: number;
  opsPerSec: number;
  msPerMatvec: number;
  gbPerSec: number;
  gweightsPerSec: number;
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
  for (const type of WEIGHT_TYPES) {
    const w = weights.get(type)!;
    const id = k.types[type]!;
    await b.suite(
      `kernels matvec ${type} ${ROWS}x${COLS}`,
      ...impls.map((impl) => b.add(`${type} ${impl}`, () => k.matvec(id, w, ROWS, COLS, x, { impl }), { minSamples: 8, maxTime: 1.5 })),
      b.cycle(),
      b.complete((summary) => {
        for (const r of summary.results) {
          const impl = r.name.split(' ')[1] as Impl;
          rows.push({
            type,
            impl,
            weightBytes: w.length,
            opsPerSec: r.ops,
            msPerMatvec: 1000 / r.ops,
            gbPerSec: (r.ops * w.length) / 1e9,
            gweightsPerSec: (r.ops * ROWS * COLS) / 1e9,
            marginPct: r.margin,
          });
        }
      }),
    );
  }

  const table = [
    '| type | weight MB | scalar GB/s | avx2 GB/s | speed-up | avx2 Gweights/s | avx2 ms/matvec (±%) |',
    '|---|---|---|---|---|---|---|',
    ...WEIGHT_TYPES.map((type) => {
      const s = rows.find((r) => r.type === type && r.impl === 'scalar');
      const a = rows.find((r) => r.type === type && r.impl === 'avx2');
      const mb = ((s?.weightBytes ?? 0) / 1e6).toFixed(1);
      return `| ${type} | ${mb} | ${s?.gbPerSec.toFixed(2) ?? '–'} | ${a?.gbPerSec.toFixed(2) ?? '–'} | ${
        s && a ? (a.gbPerSec / s.gbPerSec).toFixed(1) + '×' : '–'
      } | ${a?.gweightsPerSec.toFixed(2) ?? '–'} | ${a ? `${a.msPerMatvec.toFixed(2)} (±${a.marginPct.toFixed(0)}%)` : '–'} |`;
    }),
  ].join('\n');
  console.log(`\n${table}\n`);

  writeFileSync(
    new URL('./results/kernels.json', import.meta.url),
    JSON.stringify(
      {
        bench: 'kernels',
        date: new Date().toISOString(),
        machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, avx2: k.hasAvx2() },
        shape: { rows: ROWS, cols: COLS, threads: 1 },
        results: rows,
      },
      null,
      2,
    ) + '\n',
  );
}
