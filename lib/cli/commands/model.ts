import type { Command } from 'commander';
import { listModels, modelsDir, removeModel, resolveModel } from '../../models/cache.js';
import { formatBytes } from '../../models/progress.js';
import { formatCount, summarizeModel } from '../../models/model-info.js';
import { pullModel } from '../../models/pull.js';

/** `abi model pull|list|info|rm|path`: the local GGUF model cache (~/.abi/models or $ABI_MODELS_DIR). */
export function register(program: Command): void {
  const model = program
    .command('model')
    .description(`manage local GGUF models (cache: $ABI_MODELS_DIR or ~/.abi/models)`);

  model
    .command('pull')
    .description('download a model: <owner>/<repo>/<file.gguf> (Hugging Face) or a full URL; resumes partial downloads')
    .argument('<source>', 'Hugging Face shorthand <owner>/<repo>/<file.gguf>, or an http(s) URL of a .gguf file')
    .option('--sha256 <hex>', 'expected sha256 of the file (otherwise the server\'s sha256 etag is used when it has one)')
    .option('--force', 'download again even if the model is cached')
    .action(async (source: string, opts: { sha256?: string; force?: boolean }) => {
      const r = await pullModel(source, { ...(opts.sha256 ? { sha256: opts.sha256 } : {}), ...(opts.force ? { force: true } : {}) });
      if (r.cached) process.stderr.write(`already cached (sha256 ${r.sha256}${r.verified ? ', verified' : ''})\n`);
      process.stdout.write(`${r.path}\n`);
    });

  model
    .command('list')
    .description('list cached models')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const models = listModels();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(models.map((m) => ({ name: m.name, path: m.path, bytes: m.bytes, sha256: m.sidecar?.sha256, url: m.sidecar?.url })))}\n`);
        return;
      }
      if (models.length === 0) {
        process.stderr.write(`no models in ${modelsDir()}; pull one with 'abi model pull <owner>/<repo>/<file.gguf>'\n`);
        return;
      }
      for (const m of models) process.stdout.write(`${m.name}\t${formatBytes(m.bytes)}\n`);
    });

  model
    .command('info')
    .description('show a model\'s architecture, quantization, parameter count, context length and chat template')
    .argument('<model>', 'cache name, file name or path of a .gguf file')
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) => {
      const s = summarizeModel(resolveModel(ref));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      const lines: Array<[string, string | number | undefined]> = [
        ['path', s.path],
        ['name', s.name],
        ['architecture', s.architecture],
        ['quantization', `${s.quantization} (${Object.entries(s.tensorTypes).map(([t, b]) => `${t} ${formatBytes(b)}`).join(', ')})`],
        ['parameters', `${formatCount(s.parameters)} (${s.parameters})`],
        ['context length', s.contextLength],
        ['embedding length', s.embeddingLength],
        ['layers', s.layers],
        ['heads / kv heads', s.heads !== undefined ? `${s.heads} / ${s.kvHeads}` : undefined],
        ['vocabulary', s.vocabSize !== undefined ? `${s.vocabSize} (${s.tokenizer ?? '?'})` : undefined],
        ['file size', formatBytes(s.fileBytes)],
        ['chat template', s.chatTemplate === undefined ? 'none (plain prompts)' : `${s.chatTemplateFamily}`],
      ];
      for (const [k, v] of lines) if (v !== undefined) process.stdout.write(`${k.padEnd(17)}${v}\n`);
      if (s.chatTemplate !== undefined) process.stdout.write(`${s.chatTemplate}\n`);
    });

  model
    .command('rm')
    .description('delete a cached model (and its partial download)')
    .argument('<model>', 'cache name or file name')
    .action((ref: string) => {
      process.stdout.write(`removed ${removeModel(ref)}\n`);
    });

  model
    .command('path')
    .description('print the path of a cached model, or of the models directory')
    .argument('[model]', 'cache name or file name')
    .action((ref?: string) => {
      process.stdout.write(`${ref ? resolveModel(ref) : modelsDir()}\n`);
    });
}
