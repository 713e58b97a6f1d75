import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8Stream } from '../../lib/backends/utf8-stream.js';

describe('Utf8Stream', () => {
  it('decodes text split at every byte boundary exactly as TextDecoder does (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (text, cuts, bom) => {
        const bytes = Buffer.from((bom ? '\uFEFF' : '') + text, 'utf8');
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const stream = new Utf8Stream();
        const reference = new TextDecoder();
        let ours = '';
        let theirs = '';
        let from = 0;
        for (const to of [...at, bytes.length]) {
          const piece = new Uint8Array(bytes.subarray(from, to));
          ours += stream.write(piece);
          theirs += reference.decode(piece, { stream: true });
          from = to;
        }
        expect(ours + stream.end()).toBe(theirs + reference.decode());
        expect(ours + stream.end()).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('replaces invalid bytes and a truncated last character with U+FFFD, as TextDecoder does', () => {
    const bad = Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82]);
    const stream = new Utf8Stream();
    expect(stream.write(bad) + stream.end()).toBe(new TextDecoder().decode(bad));
  });
});
