import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applySecurityHeaders,
  confinePath,
  handleCors,
  isSafeHeaderValue,
  sanitizeHeaderValue,
  validateCorsConfig,
  type CorsConfig,
} from '../../lib/security/http-hardening.js';
import { toApiError } from '../../lib/protocol/errors.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function serve(cors: CorsConfig): Promise<string> {
  server = createServer((req, res) => {
    applySecurityHeaders(res);
    if (handleCors(req, res, cors)) return;
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('security headers and CORS on a real server', () => {
  it('sends the security headers and no CORS headers by default', async () => {
    const url = await serve({});
    const res = await fetch(url, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers preflights for allowed origins and refuses others', async () => {
    const url = await serve({ origins: ['https://app.example'] });
    const ok = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'Authorization, Content-Type' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('vary')).toContain('Origin');
    const denied = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('cors_origin_not_allowed');
    const badHeader = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-evil' },
    });
    expect(badHeader.status).toBe(403);
    const simple = await fetch(url, { headers: { origin: 'https://app.example' } });
    expect(simple.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(simple.headers.get('access-control-expose-headers')).toContain('x-ratelimit-remaining-requests');
  });

  it('validates the cors section', () => {
    expect(() => validateCorsConfig({ origins: ['https://app.example/path'] })).toThrow(/must be exactly https:\/\/app.example/);
    expect(() => validateCorsConfig({ origins: ['*'], allowCredentials: true })).toThrow(/cannot be combined/);
    expect(() => validateCorsConfig({ origins: ['nonsense'] })).toThrow(/not an origin/);
  });
});

describe('header values from input', () => {
  it('never lets CR, LF or NUL through, whatever the input (fuzzed)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (input) => {
        const safe = sanitizeHeaderValue(input);
        expect(isSafeHeaderValue(safe)).toBe(true);
        expect(safe.length).toBeLessThanOrEqual(256);
        expect(() => new Headers({ 'x-test': safe })).not.toThrow();
      }),
    );
    expect(sanitizeHeaderValue('model\r\nset-cookie: a=b')).toBe('model__set-cookie: a=b');
  });
});

describe('confinePath', () => {
  const setup = () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'abi-confine-')));
    const root = join(base, 'models');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'sub', 'm.gguf'), 'x');
    writeFileSync(join(base, 'secret.txt'), 'outside');
    symlinkSync(join(base, 'secret.txt'), join(root, 'escape.gguf'));
    symlinkSync(join(root, 'sub', 'm.gguf'), join(root, 'inside-link.gguf'));
    symlinkSync(base, join(root, 'dirlink'));
    return { base, root };
  };

  it('resolves relative and absolute paths inside the root, including symlinks that stay inside', () => {
    const { root } = setup();
    expect(confinePath(root, 'sub/m.gguf')).toBe(join(root, 'sub', 'm.gguf'));
    expect(confinePath(root, join(root, 'sub', 'm.gguf'))).toBe(join(root, 'sub', 'm.gguf'));
    expect(confinePath(root, 'sub/../sub/m.gguf')).toBe(join(root, 'sub', 'm.gguf'));
    expect(confinePath(root, 'inside-link.gguf')).toBe(join(root, 'sub', 'm.gguf'));
  });

  it.each([
    ['../secret.txt', 'path_traversal', 400],
    ['sub/../../secret.txt', 'path_traversal', 400],
    ['/etc/passwd', 'path_outside_root', 400],
    ['escape.gguf', 'path_outside_root', 400],
    ['dirlink/secret.txt', 'path_outside_root', 400],
    ['nope.gguf', 'path_not_found', 404],
    ['a\0b', 'invalid_path', 400],
    ['', 'invalid_path', 400],
  ])('refuses %j with %s', (requested, reason, status) => {
    const { root } = setup();
    let caught: unknown;
    try {
      confinePath(root, requested);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ reason, code: 'ABI_ERR_PATH' });
    const api = toApiError(caught);
    expect(api.status).toBe(status);
    expect(api.toEnvelope().error.code).toBe(reason);
    expect(api.message).not.toContain('outside"'); // no file content or resolved outside path
  });

  it('never returns a path outside the root for any fuzzed input', () => {
    const { root } = setup();
    const segment = fc.constantFrom('..', '.', 'sub', 'm.gguf', 'escape.gguf', 'dirlink', 'secret.txt', '', '/', 'inside-link.gguf');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), fc.boolean(), (parts, absolute) => {
        const requested = (absolute ? '/' : '') + parts.join('/');
        try {
          const real = confinePath(root, requested);
          expect(real.startsWith(root + '/') || real === root).toBe(true);
        } catch (err) {
          expect((err as { code?: string }).code).toBe('ABI_ERR_PATH');
        }
      }),
      { numRuns: 300 },
    );
  });
});
