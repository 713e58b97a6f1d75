import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackendError } from '../../lib/backends/errors.js';
import { OpenAIStreamDecoder } from '../../lib/backends/openai.js';
import type { BackendEvent } from '../../lib/backends/types.js';

const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up-model', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
const STREAM =
  chunk({ role: 'assistant', content: '' }) +
  chunk({ content: 'Grüß' }) +
  chunk({ content: ' 😀' }) +
  chunk({}, 'length') +
  `data: ${JSON.stringify({ id: 'c', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })}\n\n` +
  'data: [DONE]\n\n';

function decodeAll(pieces: Uint8Array[]): BackendEvent[] {
  const d = new OpenAIStreamDecoder('b', 'asked');
  const out: BackendEvent[] = [];
  for (const p of pieces) out.push(...d.push(p));
  d.end();
  return out;
}

describe('OpenAIStreamDecoder', () => {
  const expected: BackendEvent[] = [
    { type: 'start', model: 'up-model' },
    { type: 'content', text: 'Grüß' },
    { type: 'content', text: ' 😀' },
    { type: 'finish', reason: 'length' },
    { type: 'usage', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
  ];

  it('decodes a whole stream', () => {
    expect(decodeAll([Buffer.from(STREAM)])).toEqual(expected);
  });

  it('gives the same events however the bytes are split (multi-byte characters included)', () => {
    const bytes = Buffer.from(STREAM);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 30 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const pieces = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        expect(decodeAll(pieces)).toEqual(expected);
      }),
    );
  });

  it('delivers the events before an in-band error, then fails as a cut stream', () => {
    const d = new OpenAIStreamDecoder('b', 'asked', () => ['sk-secret-value']);
    const events = d.push(Buffer.from(chunk({ content: 'a' }) + 'data: {"error":{"message":"boom sk-secret-value","type":"server_error","code":"overloaded"}}\n\n'));
    expect(events.map((e) => e.type)).toEqual(['start', 'content']);
    expect(d.failed).toBe(true);
    let err: unknown;
    try {
      d.end();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ kind: 'cut', providerCode: 'overloaded', afterFirstToken: true });
    expect((err as BackendError).message).not.toContain('sk-secret-value');
    expect(() => new OpenAIStreamDecoder('b', 'm').push(Buffer.from('data: {"error":"plain"}\n\n'))).toThrow(BackendError);
  });

  it('skips garbage, counts it and never emits it', () => {
    const d = new OpenAIStreamDecoder('b', 'asked');
    const events = d.push(Buffer.from('data: {nope\n\ndata: 42\n\n: comment\n\nevent: other\ndata: "str"\n\n' + chunk({ content: 'ok' }, 'stop')));
    expect(events).toEqual([{ type: 'start', model: 'up-model' }, { type: 'content', text: 'ok' }, { type: 'finish', reason: 'stop' }]);
    expect(d.skipped).toBe(3);
    d.end();
  });

  it('ends: cut without finish, clean with finish but no [DONE], unknown finish reasons read as stop', () => {
    const cut = new OpenAIStreamDecoder('b', 'm');
    cut.push(Buffer.from(chunk({ content: 'x' })));
    expect(() => cut.end()).toThrow(/without a finish reason/);
    const clean = new OpenAIStreamDecoder('b', 'm');
    expect(clean.push(Buffer.from(chunk({}, 'eos_token'))).at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    clean.end();
    expect(() => new OpenAIStreamDecoder('b', 'm').end()).toThrow(BackendError);
  });
});

describe('OpenAIStreamDecoder content fast path', () => {
  const layouts = [
    (c: string) => `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${c}},"logprobs":null,"finish_reason":null}],"usage":null}`,
    (c: string) => `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":${c}},"finish_reason":null}]}`,
    (c: string) => `{"choices":[{"delta":{"content":${c}},"index":0}],"model":"m","id":"x"}`,
    (c: string) => `{"id":"x","choices":[{"index":0,"delta":{"content":${c}},"logprobs":null,"finish_reason":null}],"obfuscation":"${c.length}"}`,
  ];
  const decode = (fast: boolean, datas: string[]) => {
    const d = new OpenAIStreamDecoder('b', 'asked', () => [], fast);
    const events = d.push(Buffer.from(datas.map((x) => `data: ${x}\n\n`).join('')));
    return { events, skipped: d.skipped };
  };

  it('gives exactly the events of full parsing, for any content and layout', () => {
    const token = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\\"', '","x":"', '}', '\u2028', '\t'));
    fc.assert(
      fc.property(fc.constantFrom(...layouts), fc.array(token, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(11)), (layout, tokens, rawAt) => {
        const datas = tokens.map((t) => layout(JSON.stringify(t)));
        // Some chunks written with invalid JSON inside the content literal (raw tab, bad escape, stray quote).
        for (const i of rawAt) if (i < datas.length) datas[i] = layout(['"a\tb"', '"bad \\x escape"', '"a"b"'][i % 3]!);
        datas.push(layout('"end"').replace('"finish_reason":null', '"finish_reason":"stop"'));
        expect(decode(true, datas)).toEqual(decode(false, datas));
      }),
      { numRuns: 200 },
    );
  });

  it('does not take the fast path for chunks that carry more than content', () => {
    const plain = layouts[0]!('"a"');
    const withLogprobs = plain.replace('"logprobs":null', '"logprobs":{"content":[]}');
    const withFinish = plain.replace('"finish_reason":null', '"finish_reason":"length"');
    const withUsage = plain.replace('"usage":null', '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}');
    const { events } = decode(true, [plain, withLogprobs, withFinish, withUsage]);
    expect(events).toEqual([
      { type: 'start', model: 'm' },
      { type: 'content', text: 'a' },
      { type: 'content', text: 'a', logprobs: { content: [] } },
      { type: 'content', text: 'a' },
      { type: 'finish', reason: 'length' },
      { type: 'content', text: 'a' },
      { type: 'usage', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } },
    ]);
  });
});
