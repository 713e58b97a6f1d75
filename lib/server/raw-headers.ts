import { securityHeaders } from '../security/http-hardening.js';

/** Security headers for responses written straight to a socket (malformed HTTP, refused upgrades). */
export const RAW_SECURITY_HEADERS = Object.entries(securityHeaders())
  .map(([k, v]) => `${k}: ${v}\r\n`)
  .join('');
