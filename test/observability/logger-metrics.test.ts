import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, newRequestId, requestLogger } from '../../lib/observability/logger.js';
import { createMetrics } from '../../lib/observability/metrics.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

describe('logger', () => {
  it('redacts credentials by path and scrubs them from messages and errors', () => {
    const { lines, logger } = capture();
    const key = 'sk-proj-SECRETSECRET123';
    logger.info({ headers: { authorization: `Bearer ${key}`, 'x-api-key': key, accept: '*/*' } }, 'incoming');
    logger.info({ req: { headers: { authorization: 'Bearer tok-abc' } } }, 'nested');
    logger.info({ backend: { apiKey: key, baseUrl: 'http://x' }, tokens: ['t1'], apiKey: key }, 'config');
    logger.debug(`upstream said: Incorrect API key provided: ${key}`);
    logger.error({ err: new Error(`401 from upstream, header was Bearer ${key}`) }, 'failed');
    const all = lines.join('');
    expect(all).not.toContain('SECRETSECRET');
    expect(all).not.toContain('tok-abc');
    expect(all).not.toContain('"t1"');
    expect(all).toContain('[REDACTED]');
    expect(all).toContain('http://x');
    expect(JSON.parse(lines[0]!).headers.accept).toBe('*/*');
    expect(JSON.parse(lines[4]!).err.message).toBe('401 from upstream, header was Bearer [REDACTED]');
  });

  it('child loggers carry the request id', () => {
    const { lines, logger } = capture();
    const id = newRequestId();
    expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    requestLogger(logger, id, { route: '/v1/chat/completions' }).info('hello');
    expect(JSON.parse(lines[0]!)).toMatchObject({ request_id: id, route: '/v1/chat/completions', msg: 'hello' });
  });
});

describe('metrics', () => {
  it('keeps separate registries per instance and renders every metric', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.request('/v1/chat/completions', 'POST', 200);
    a.streamsActive(3);
    a.firstToken('primary', 0.12);
    a.interToken('primary', 0.02);
    a.tokens('primary', 5);
    a.upstreamError('primary', 'http_429');
    a.limited('requests');
    a.malformedChunks.inc({ backend: 'primary' });
    const { body, contentType } = await a.render();
    expect(contentType).toMatch(/text\/plain/);
    for (const line of [
      'abi_http_requests_total{route="/v1/chat/completions",method="POST",status="200"} 1',
      'abi_active_streams 3',
      'abi_time_to_first_token_seconds_count{backend="primary"} 1',
      'abi_inter_token_latency_seconds_bucket{le="0.025",backend="primary"} 1',
      'abi_tokens_streamed_total{backend="primary"} 5',
      'abi_upstream_errors_total{backend="primary",type="http_429"} 1',
      'abi_rate_limited_total{kind="requests"} 1',
      'abi_upstream_malformed_chunks_total{backend="primary"} 1',
    ]) {
      expect(body).toContain(line);
    }
    expect((await b.render()).body).not.toContain('abi_active_streams 3');
  });
});
