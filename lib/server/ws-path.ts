/** Where the WebSocket endpoint listens (its own module so the server can route it without loading ws). */
export const WS_PATH = '/api/stream/ws';
