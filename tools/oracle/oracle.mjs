#!/usr/bin/env node
// llama.cpp oracle for abi-stream's tests (dev-only): runs node-llama-cpp's CPU prebuilt on a GGUF
// and writes what llama.cpp itself does, as JSON, so our tokenizer and engine can be compared
// with it. Usage: node tools/oracle/oracle.mjs request.json [response.json]
// (request/response shapes: tools/oracle/README.md). Always CPU (gpu: false), one thread,
// never builds llama.cpp from source (that would need the network).
import { readFileSync, writeFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

function fail(message) {
  process.stderr.write(`oracle: ${message}\n`);
  process.exit(2);
}

const [requestPath, responsePath] = process.argv.slice(2);
if (!requestPath) fail('usage: oracle.mjs request.json [response.json]');
let request;
try {
  request = JSON.parse(readFileSync(requestPath, 'utf8'));
} catch (err) {
  fail(`cannot read request ${requestPath}: ${err.message}`);
}
if (Array.isArray(request.renderTemplates)) {
  // Reference rendering of real Jinja chat templates (the library node-llama-cpp itself uses).
  const { Template } = await import('@huggingface/jinja');
  const rendered = request.renderTemplates.map((r) =>
    new Template(r.template).render({
      messages: r.messages,
      bos_token: r.bos ?? '<s>',
      eos_token: r.eos ?? '</s>',
      add_generation_prompt: r.addGenerationPrompt !== false,
    }),
  );
  const json = JSON.stringify({ renderTemplates: rendered });
  if (responsePath) writeFileSync(responsePath, json);
  else process.stdout.write(json + '\n');
  process.exit(0);
}
if (typeof request.model !== 'string') fail('request.model must be a GGUF path');

const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 });
const response = { model: request.model, llamaCpp: llama.llamaCppRelease, nVocab: model.tokens ? undefined : undefined };
response.bos = model.tokens.bos;
response.eos = model.tokens.eos;
response.addBos = model.tokens.shouldPrependBosToken;

if (request.tokenize) {
  const special = request.tokenize.special === true;
  response.tokenize = request.tokenize.texts.map((text) => {
    const ids = Array.from(model.tokenize(text, special));
    return { text, ids, detokenized: model.detokenize(ids, special) };
  });
}

if (request.benchTokenize) {
  // Wall time of llama.cpp's tokenizer alone (model already loaded), for bench/tokenizer.bench.ts.
  const b = request.benchTokenize;
  let tokens = 0;
  model.tokenize(b.text, b.special === true); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < (b.iterations ?? 10); i++) tokens = model.tokenize(b.text, b.special === true).length;
  response.benchTokenize = { ms: Number(process.hrtime.bigint() - start) / 1e6, iterations: b.iterations ?? 10, tokens };
}

if (request.generate) {
  const g = request.generate;
  const maxTokens = g.maxTokens ?? 200;
  const topLogprobs = g.topLogprobs ?? 0;
  response.generate = [];
  for (const prompt of g.prompts) {
    // A fresh context per prompt: nothing cached from the previous prompt can leak into this one.
    const context = await model.createContext({ contextSize: request.contextSize ?? 512, threads: 1, batchSize: 512 });
    const promptIds = Array.isArray(prompt.ids)
      ? prompt.ids
      : [...(model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []), ...Array.from(model.tokenize(prompt.text ?? '', prompt.special === true))];
    const sequence = context.getSequence();
    const ids = [];
    const steps = [];
    const metadata = topLogprobs > 0 || g.allProbabilities ? { probabilities: true } : {};
    const options = g.sampling
      ? {
          temperature: g.sampling.temperature,
          topK: g.sampling.topK ?? 0,
          topP: g.sampling.topP ?? 1,
          minP: g.sampling.minP ?? 0,
          seed: g.sampling.seed ?? 1,
        }
      : { temperature: 0 };
    if (g.penalties) {
      // llama.cpp's penalties sampler over the last lastN tokens of prompt + generation.
      options.repeatPenalty = {
        // node-llama-cpp widens its window to the whole list it is given, so hand it only the last lastN.
        punishTokens: () => [...promptIds, ...ids].slice(-(g.penalties.lastN ?? 64)),
        maxPunishTokens: g.penalties.lastN ?? 64,
        penalty: g.penalties.repeat ?? 1,
        frequencyPenalty: g.penalties.frequency ?? 0,
        presencePenalty: g.penalties.presence ?? 0,
      };
    }
    for await (const out of sequence.evaluateWithMetadata(promptIds, metadata, options)) {
      ids.push(out.token);
      if (g.allProbabilities) {
        // Every candidate left after llama.cpp's sampler chain, with its probability.
        const probs = [...out.probabilities.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
        steps.push({ top: probs.slice(0, topLogprobs).map(([id, p]) => ({ id, logprob: Math.log(p) })), probs });
      } else if (topLogprobs > 0) {
        // With greedy sampling and no penalties the candidate list is every token with its raw
        // logit; node-llama-cpp returns softmax(logits) in f32, so log(p) is the log-softmax.
        const top = [...out.probabilities.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, topLogprobs)
          .map(([id, p]) => ({ id, logprob: Math.log(p) }));
        steps.push({ top });
      }
      if (ids.length >= maxTokens) break;
      if (g.stopOnEog && model.isEogToken(out.token)) break;
    }
    sequence.dispose();
    await context.dispose();
    response.generate.push({ prompt, promptIds, ids, text: model.detokenize(ids), ...(topLogprobs > 0 || g.allProbabilities ? { steps } : {}) });
  }
}

await model.dispose();
await llama.dispose();
delete response.nVocab;
const json = JSON.stringify(response);
if (responsePath) writeFileSync(responsePath, json);
else process.stdout.write(json + '\n');
