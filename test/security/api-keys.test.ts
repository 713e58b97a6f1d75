import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { ApiKeyStore } from '../../lib/security/api-keys.js';
import { createAuthenticator, parseAuthorizationHeader } from '../../lib/security/authenticator.js';
import { AuthError } from '../../lib/security/errors.js';

const quiet = { warn: () => {}, error: () => {} };
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'abi-keys-')), 'keys.json');
const request = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

describe('ApiKeyStore', () => {
  it('stores only a hash, verifies the key and forgets it on revoke', () => {
    const path = tempFile();
    const store = new ApiKeyStore(path);
    const { key, record } = store.create({ name: 'team-a', scopes: ['chat'], limits: { requestsPerMinute: 10 } });
    expect(key).toMatch(/^abi-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(17));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(store.verify(key)).toEqual(record);
    expect(record).toMatchObject({ name: 'team-a', scopes: ['chat'], limits: { requestsPerMinute: 10 } });

    const other = new ApiKeyStore(path);
    expect(other.verify(key)?.name).toBe('team-a');
    const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect(other.verify(flipped)).toBeNull();
    expect(other.verify('abi-000000000000-' + 'x'.repeat(43))).toBeNull();

    other.revoke('team-a');
    expect(other.verify(key)).toBeNull();
    expect(new ApiKeyStore(path).list()).toEqual([]);
  });

  it('refuses duplicate names, bad names, bad scopes and bad limits', () => {
    const store = new ApiKeyStore(tempFile());
    store.create({ name: 'x' });
    expect(() => store.create({ name: 'x' })).toThrow(/already exists/);
    expect(() => store.create({ name: 'has space' })).toThrow(/invalid key name/);
    expect(() => store.create({ name: 'y', scopes: ['a b'] })).toThrow(/invalid scope/);
    expect(() => store.create({ name: 'z', limits: { tokensPerMinute: -1 } })).toThrow(/positive integer/);
    expect(() => store.revoke('nope')).toThrow(/no key/);
  });

  it('sees keys created and revoked by another process within recheckMs', () => {
    const path = tempFile();
    const server = new ApiKeyStore(path, { recheckMs: 0 });
    const cli = new ApiKeyStore(path);
    const { key } = cli.create({ name: 'late' });
    expect(server.verify(key)?.name).toBe('late');
    cli.revoke('late');
    // Same size and possibly the same mtime tick: force a distinct mtime as a slow filesystem would.
    utimesSync(path, new Date(), new Date(Date.now() + 2000));
    expect(server.verify(key)).toBeNull();
  });
});

describe('parseAuthorizationHeader', () => {
  it.each([
    ['Bearer abc.def-ghi_jkl', 'abc.def-ghi_jkl'],
    ['bearer  tok== ', 'tok=='],
  ])('%j → %j', (header, token) => expect(parseAuthorizationHeader(header)).toBe(token));

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'Bearer tok\r\nx: y', 'Bearer t\u00e9', `Bearer ${'a'.repeat(20000)}`])('refuses %j', (header) => {
    expect(() => parseAuthorizationHeader(header)).toThrow(AuthError);
  });

  it('is null without a header and refuses repeated headers', () => {
    expect(parseAuthorizationHeader(undefined)).toBeNull();
    expect(() => parseAuthorizationHeader(['Bearer a', 'Bearer b'])).toThrow(/exactly one/);
  });
});

describe('createAuthenticator', () => {
  const secret = 'jwt-secret-for-the-authenticator-tests-0123456789';

  it('combines static tokens (admin by default), API keys and JWT', async () => {
    const path = tempFile();
    const { key } = new ApiKeyStore(path).create({ name: 'svc', scopes: ['chat'], limits: { tokensPerMinute: 500 } });
    const auth = await createAuthenticator(
      { tokens: ['static-one', 'static-two'], apiKeysFile: path, jwt: { algorithms: ['HS256'], secret } },
      { logger: quiet, env: {} },
    );
    expect(auth.required).toBe(true);
    expect(await auth.authenticate(request('Bearer static-two'))).toEqual({ id: 'static:1', kind: 'static-token', scopes: ['admin'] });
    expect(await auth.authenticate(request(`Bearer ${key}`))).toEqual({ id: 'svc', kind: 'api-key', scopes: ['chat'], limits: { tokensPerMinute: 500 } });
    const jwt = await new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg: 'HS256' }).setSubject('user-7').setExpirationTime('1m').sign(new TextEncoder().encode(secret));
    expect(await auth.authenticate(request(`Bearer ${jwt}`))).toEqual({ id: 'user-7', kind: 'jwt', scopes: ['chat'] });
    expect(await auth.authenticate(request())).toBeNull();
    await expect(auth.authenticate(request('Bearer wrong'))).rejects.toMatchObject({ status: 401, reason: 'invalid_api_key' });
  });

  it('enforces the admin scope on /admin/* and leaves /health open when allowed', async () => {
    const path = tempFile();
    const { key } = new ApiKeyStore(path).create({ name: 'chat-only', scopes: ['chat'] });
    const auth = await createAuthenticator({ tokens: ['op'], apiKeysFile: path }, { logger: quiet, env: {} });
    expect((await auth.authorize(request('Bearer op'), '/admin/reload')).id).toBe('static:0');
    await expect(auth.authorize(request(`Bearer ${key}`), '/admin/reload')).rejects.toMatchObject({ status: 403, reason: 'insufficient_scope' });
    expect((await auth.authorize(request(`Bearer ${key}`), '/v1/chat/completions')).id).toBe('chat-only');
    await expect(auth.authorize(request(), '/v1/models')).rejects.toMatchObject({ status: 401, reason: 'missing_credentials' });
    expect((await auth.authorize(request(), '/health')).kind).toBe('anonymous');
    const closedHealth = await createAuthenticator({ tokens: ['op'], allowHealthWithoutAuth: false, apiKeysFile: path }, { logger: quiet, env: {} });
    await expect(closedHealth.authorize(request(), '/health')).rejects.toMatchObject({ status: 401 });
  });

  it('a corrupted keys file fails closed for API keys but leaves static tokens working', async () => {
    const path = tempFile();
    const { key } = new ApiKeyStore(path).create({ name: 'k' });
    const auth = await createAuthenticator({ tokens: ['op'], apiKeysFile: path }, { logger: quiet, env: {} });
    writeFileSync(path, '{ not json');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    await new Promise((r) => setTimeout(r, 1100));
    expect(auth.required).toBe(true);
    expect((await auth.authorize(request('Bearer op'), '/v1/models')).id).toBe('static:0');
    await expect(auth.authorize(request(`Bearer ${key}`), '/v1/models')).rejects.toMatchObject({ code: 'ABI_ERR_API_KEYS' });
    await expect(auth.authorize(request(), '/v1/models')).rejects.toMatchObject({ status: 401 });
  });

  it('static token scopes are configurable', async () => {
    const auth = await createAuthenticator({ tokens: ['t'], staticTokenScopes: ['chat'], apiKeysFile: tempFile() }, { logger: quiet, env: {} });
    await expect(auth.authorize(request('Bearer t'), '/admin/reload')).rejects.toMatchObject({ status: 403 });
  });

  it('is open (anonymous, no admin) when nothing is configured, and closes when the first key is created', async () => {
    const path = tempFile();
    const auth = await createAuthenticator({ apiKeysFile: path }, { logger: quiet, env: {} });
    expect(auth.required).toBe(false);
    expect((await auth.authorize(request(), '/v1/models')).kind).toBe('anonymous');
    await expect(auth.authorize(request(), '/admin/reload')).rejects.toMatchObject({ status: 403 });
    new ApiKeyStore(path).create({ name: 'first' });
    await new Promise((r) => setTimeout(r, 1100));
    expect(auth.required).toBe(true);
    await expect(auth.authorize(request(), '/v1/models')).rejects.toMatchObject({ status: 401 });
  });
});
