import type http from 'node:http';
import { performance } from 'node:perf_hooks';

/** What a fake upstream remembers of one request it received. */
export interface RecordedHttpRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined when the body was empty or not JSON). */
  body: any;
  rawBody: string;
  /** performance.now() when the request arrived (before its body was read). */
  arrivedAt: number;
  /** True when the client closed the connection before the response was complete. */
  aborted: boolean;
  /** Resolves when the response finished or the client went away. */
  closed: Promise<void>;
  /** Content tokens written before the response ended (the fake server counts them). */
  tokensSent: number;
}

/**
 * Reads a request's whole body and calls `onRecord` with its record, whose `aborted` and `closed`
 * follow the response. Shared by the fake upstreams so they record requests the same way.
 */
export function recordRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  onRecord: (record: RecordedHttpRequest) => void,
): void {
  const arrivedAt = performance.now();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: any;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    let markClosed!: () => void;
    const record: RecordedHttpRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      rawBody,
      arrivedAt,
      aborted: false,
      closed: new Promise<void>((r) => (markClosed = r)),
      tokensSent: 0,
    };
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
      markClosed();
    });
    onRecord(record);
  });
}
