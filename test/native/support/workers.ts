/**
 * Real worker_threads for the native tests. Workers run inline ESM-in-CJS source (`eval: true`) that
 * registers tsx and imports the TypeScript wrappers under test, so they exercise the same modules as
 * the main thread, loading the addon the same way (node-gyp-build from the package root).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const moduleUrl = (rel: string) => pathToFileURL(`${packageRoot}${rel}`).href;

/**
 * Starts a worker whose `body` is the source of an async function `(mods, data) => result`; `mods`
 * maps each name in `modules` to the imported module. Resolves with the result it returns.
 */
export function runWorker<T>(modules: Record<string, string>, body: string, data: unknown): Promise<T> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { register } = await import('tsx/esm/api');
      register();
      const mods = {};
      for (const [name, url] of Object.entries(workerData.modules)) mods[name] = await import(url);
      const fn = (${body});
      parentPort.postMessage({ ok: true, value: await fn(mods, workerData.data) });
    })().catch((err) => parentPort.postMessage({ ok: false, error: String(err && err.stack || err) }));
  `;
  const urls = Object.fromEntries(Object.entries(modules).map(([k, v]) => [k, moduleUrl(v)]));
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(src, { eval: true, workerData: { modules: urls, data } });
    worker.once('message', (m: { ok: boolean; value?: T; error?: string }) => {
      if (m.ok) resolve(m.value as T);
      else reject(new Error(`worker failed: ${m.error}`));
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}
