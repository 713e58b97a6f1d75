/** WebSocket keep-alive: the server pings every heartbeatMs and drops a client that stops answering. */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFromConfig, type TestServer } from './harness.js';

describe('WebSocket ping/pong', () => {
  let t: TestServer;
  let wsUrl: string;
  beforeAll(async () => {
    t = await startFromConfig({ auth: { tokens: ['test-token-1'], apiKeysFile: '/nonexistent/k.json' }, server: { heartbeatMs: 1000 } });
    wsUrl = `${t.url.replace('http', 'ws')}/api/stream/ws`;
  });
  afterAll(() => t.close());

  const open = (autoPong: boolean) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: { authorization: 'Bearer test-token-1' }, autoPong });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });

  it('pings live clients and keeps them; terminates a client that never pongs', async () => {
    const live = await open(true);
    const dead = await open(false);
    let livePings = 0;
    let deadPings = 0;
    live.on('ping', () => livePings++);
    dead.on('ping', () => deadPings++);
    const deadClosed = new Promise<number>((resolve) => dead.on('close', (code) => resolve(code)));
    const code = await deadClosed;
    expect(deadPings).toBeGreaterThanOrEqual(1);
    expect(code).toBe(1006);
    expect(livePings).toBeGreaterThanOrEqual(1);
    expect(live.readyState).toBe(WebSocket.OPEN);
    live.close();
  });
});
