/** The built-in demo model is a real GGUF that llama.cpp itself runs to the honest demo sentence. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspectGguf } from '../../lib/engine/inspect.js';
import { LocalModel } from '../../lib/engine/local-model.js';
import { applyChatTemplate } from '../../lib/engine/chat-template.js';
import { DEMO_MODEL_NAME, DEMO_TEXT, demoModelPath, ensureDemoModel } from '../../lib/models/demo-model.js';
import { createDetokenizer, tokenizerFromGguf } from '../../lib/models/vocab.js';
import { ensureOracle, runOracle } from './oracle.js';

// llama.cpp runs in a child process; the first use may install tools/oracle (npm ci, ~10-20 s).
vi.setConfig({ testTimeout: 120_000 });
beforeAll(() => ensureOracle(), 300_000);

const dir = mkdtempSync(join(tmpdir(), 'abi-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('demo model', () => {
  it('is created offline in the models dir, once, and says plainly what it is', () => {
    const path = ensureDemoModel(dir);
    expect(path).toBe(demoModelPath(dir));
    const mtime = statSync(path).mtimeMs;
    expect(ensureDemoModel(dir)).toBe(path);
    expect(statSync(path).mtimeMs).toBe(mtime);
    const info = inspectGguf(path);
    expect(info.metadata['general.architecture']).toBe('llama');
    expect(String(info.metadata['general.name'])).toContain(DEMO_MODEL_NAME);
    expect(String(info.metadata['general.name'])).toContain('not a language model');
    expect(readFileSync(path).subarray(0, 4).toString('latin1')).toBe('GGUF');
  });

  it('llama.cpp greedy-decodes any chat prompt to the demo sentence and then ends the turn', () => {
    const path = ensureDemoModel(dir);
    const template = String(inspectGguf(path).metadata['tokenizer.chat_template']);
    const chat = applyChatTemplate(template, [{ role: 'user', content: 'What are you?' }]);
    expect(chat.family).toBe('chatml');
    const tok = tokenizerFromGguf(path);
    const promptIds = Array.from(tok.encode(chat.prompt, true, true));
    const oracle = runOracle({
      model: path,
      generate: { prompts: [{ ids: promptIds }, { text: 'Any other text at all' }], maxTokens: 100, stopOnEog: true },
    });
    for (const g of oracle.generate!) {
      // node-llama-cpp ends the generation at an end-of-generation token without yielding it.
      expect(g.ids.length).toBeLessThan(100);
      expect(g.ids.some((id) => tok.isEog(id))).toBe(false);
      const d = createDetokenizer(tok, { stripLeadingSpace: true });
      expect(g.ids.map((id) => d.push(id)).join('') + d.flush()).toBe(DEMO_TEXT);
    }
  });

  it('our engine, with our tokenizer and sampler, says the sentence and stops, greedy and sampled', async () => {
    const path = ensureDemoModel(dir);
    const template = String(inspectGguf(path).metadata['tokenizer.chat_template']);
    const { prompt } = applyChatTemplate(template, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Who are you?' }]);
    const model = LocalModel.load(path, { threads: 1 });
    try {
      for (const temperature of [0, 0.8]) {
        const g = model.generate({ prompt, addSpecial: true, parseSpecial: true, maxTokens: 100, temperature, seed: 5, stripLeadingSpace: true });
        let text = '';
        for await (const chunk of g) text += chunk.text;
        const result = await g.result();
        expect(text, `temperature ${temperature}`).toBe(DEMO_TEXT);
        expect(result.finishReason).toBe('stop');
        expect(result.completionTokens).toBeLessThan(100);
      }
    } finally {
      model.close();
    }
  });
});
