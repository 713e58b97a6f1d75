import { describe, expect, it } from 'vitest';
import type { Backend, BackendEvent, ChatRequest } from '../../lib/backends/types.js';
import { executeRoute, type RoutedEvent } from '../../lib/recovery/execute.js';

/** A scripted in-process backend: these tests exercise routing order only; HTTP faults live in faults.test.ts. */
function scripted(name: string, script: (req: ChatRequest) => AsyncIterable<BackendEvent>, continuation = false): Backend & { calls: ChatRequest[] } {
  const calls: ChatRequest[] = [];
  return {
    name,
    type: 'scripted',
    continuation,
    calls,
    stream(req) {
      calls.push(req);
      return script(req);
    },
    async close() {},
  };
}

async function collect(it: AsyncIterable<RoutedEvent>): Promise<RoutedEvent[]> {
  const out: RoutedEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

const req: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

describe('executeRoute (ordering)', () => {
  it('fails over before the first token and names the answering backend in start', async () => {
    const a = scripted('a', async function* () {
      yield { type: 'start', model: 'a-model' };
      throw Object.assign(new Error('boom'), { kind: 'http', status: 500, retryable: true });
    });
    const b = scripted('b', async function* () {
      yield { type: 'start', model: 'b-model' };
      yield { type: 'content', text: 'hello' };
      yield { type: 'finish', reason: 'stop' };
    });
    const events = await collect(
      executeRoute([{ backend: a, model: 'x' }, { backend: b, model: 'y' }], req, { signal: new AbortController().signal }),
    );
    expect(events.filter((e) => e.type === 'start')).toEqual([{ type: 'start', model: 'b-model' }]);
    expect(events.map((e) => e.type)).toEqual(['attempt', 'attempt', 'attempt', 'failover', 'attempt', 'start', 'content', 'finish']);
    expect(a.calls).toHaveLength(3);
    expect(b.calls[0]!.model).toBe('y');
  });

  it('after the first token, a regeneration that differs is dropped and the original failure is rethrown', async () => {
    const a = scripted('a', async function* () {
      yield { type: 'start', model: 'a' };
      yield { type: 'content', text: 'par' };
      throw Object.assign(new Error('cut'), { kind: 'cut', retryable: true });
    });
    const b = scripted('b', async function* () {
      yield { type: 'content', text: 'other' };
      yield { type: 'finish', reason: 'stop' };
    });
    const seen: RoutedEvent[] = [];
    await expect(
      (async () => {
        for await (const e of executeRoute([{ backend: a, model: 'x' }, { backend: b, model: 'y' }], req, { signal: new AbortController().signal })) seen.push(e);
      })(),
    ).rejects.toThrow('cut');
    // b regenerated a different prefix: nothing of it reaches the caller, and b never saw a prefill.
    expect(b.calls).toHaveLength(1);
    expect(b.calls[0]!.prefill).toBeUndefined();
    expect(seen.filter((e) => e.type === 'content')).toEqual([{ type: 'content', text: 'par' }]);
  });

  it('alreadySent: a continuation target gets it as prefill, a regenerating one has it verified; only the rest is sent', async () => {
    const answer = async function* (req: ChatRequest): AsyncGenerator<BackendEvent> {
      yield { type: 'content', text: req.prefill === undefined ? 'Hello' : 'Hello'.slice(req.prefill.length) };
      yield { type: 'finish', reason: 'stop' };
    };
    const continuing = scripted('c', answer, true);
    const regenerating = scripted('r', answer);
    const signal = new AbortController().signal;
    const viaPrefill = await collect(executeRoute([{ backend: continuing, model: 'x' }], req, { signal, alreadySent: 'Hel' }));
    const viaRegeneration = await collect(executeRoute([{ backend: regenerating, model: 'y' }], req, { signal, alreadySent: 'Hel' }));
    expect(continuing.calls[0]!.prefill).toBe('Hel');
    expect(regenerating.calls[0]!.prefill).toBeUndefined();
    for (const events of [viaPrefill, viaRegeneration]) expect(events.filter((e) => e.type === 'content')).toEqual([{ type: 'content', text: 'lo' }]);
  });

  it('treats a stream without finish as cut', async () => {
    const a = scripted('a', async function* () {
      yield { type: 'content', text: 'par' };
    });
    await expect(
      collect(executeRoute([{ backend: a, model: 'x' }], req, { signal: new AbortController().signal })),
    ).rejects.toMatchObject({ kind: 'cut' });
  });
});
