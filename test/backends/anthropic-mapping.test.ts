import { describe, expect, it } from 'vitest';
import { toAnthropicRequest } from '../../lib/backends/anthropic.js';

describe('toAnthropicRequest', () => {
  it('maps content parts, developer messages, stop and parallel_tool_calls', () => {
    const { body, stripLeading } = toAnthropicRequest(
      {
        model: 'c',
        messages: [
          { role: 'developer', content: [{ type: 'text', text: 'Rule one.' }] },
          { role: 'system', content: 'Rule two.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.invalid/cat.png' } },
            ],
          },
          { role: 'assistant', content: 'A cat.' },
          { role: 'user', content: 'Sure?' },
        ],
        temperature: 1.7,
        topP: 0.9,
        passthrough: { tool_choice: 'required', parallel_tool_calls: false, top_k: 5 },
        prefill: 'Yes, \n',
      },
      1024,
    );
    expect(stripLeading).toBe(' \n');
    expect(body).toEqual({
      model: 'c',
      max_tokens: 1024,
      system: 'Rule one.\n\nRule two.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.invalid/cat.png' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'A cat.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Sure?' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Yes,' }] },
      ],
      stream: true,
      temperature: 1,
      top_p: 0.9,
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      top_k: 5,
    });
  });

  it('keeps malformed tool-call arguments visible instead of dropping them', () => {
    const { body } = toAnthropicRequest(
      {
        model: 'c',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":' } }] },
          { role: 'tool', tool_call_id: 't1', content: 'r' },
        ],
      },
      10,
    );
    expect((body.messages as any[])[1].content[0]).toEqual({ type: 'tool_use', id: 't1', name: 'f', input: { _raw: '{"a":' } });
  });
});
