import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, loadConfig } from '../../lib/config/index.js';

// Whatever JSON an operator writes, loading either succeeds or fails with ConfigError naming a key path.
describe('loadConfig on arbitrary JSON', () => {
  it('never throws anything but ConfigError', () => {
    const section = fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('host', 'port', 'heartbeatMs', 'tokens', 'type', 'baseUrl', 'timeouts', 'model', 'targets', 'x'), fc.jsonValue()));
    const backend = fc.record({ type: fc.oneof(fc.constant('openai'), fc.jsonValue()), baseUrl: fc.oneof(fc.constant('http://127.0.0.1:1/v1'), fc.jsonValue()), timeouts: fc.jsonValue(), apiKey: fc.jsonValue() }, { requiredKeys: [] });
    const raw = fc.record(
      {
        server: section,
        auth: section,
        backends: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), backend), fc.jsonValue()),
        routes: fc.oneof(fc.array(fc.record({ model: fc.jsonValue(), targets: fc.oneof(fc.array(fc.record({ backend: fc.jsonValue(), model: fc.jsonValue() }, { requiredKeys: [] })), fc.jsonValue()) }, { requiredKeys: [] })), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(raw, fc.jsonValue()), (value) => {
        try {
          // A string would be read as a file path; wrap it so only in-memory JSON is tried.
          loadConfig((typeof value === 'string' ? { value } : value) as object, { env: {} });
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect(typeof (e as ConfigError).key).toBe('string');
        }
      }),
      { numRuns: 1500 },
    );
  });
});
