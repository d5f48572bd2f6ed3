// Errors as wx.cloud shapes them (`errCode`, `errMsg` = "operation:fail reason"), plus the
// server's envelope (`code`, `requestId`, `upstream`) so callers can branch on a stable code.
import { HttpResponse, PlatformError } from '../adapters/types';

export interface Upstream {
  service: string;
  errcode?: number;
}

export class MinibaseError extends Error {
  /** The HTTP status for errors the server answered; -1 when no answer came (network,
   * timeout, abort, a platform call that failed). */
  errCode: number;
  /** `"collection.get:fail PERMISSION_DENIED: …"`, as wx.cloud writes it. */
  errMsg: string;
  /** The envelope's code (`PERMISSION_DENIED`, `NOT_FOUND`…), or the SDK's own:
   * `NETWORK_ERROR`, `ABORTED`, `CANCELLED` (the user closed a payment or refused a
   * button), `PAYMENT_FAILED` (the platform's payment failed otherwise), `UNSUPPORTED`,
   * `INVALID_ARGUMENT` (refused before sending). */
  code: string;
  statusCode?: number;
  requestId?: string;
  upstream?: Upstream;

  constructor(op: string, code: string, message: string, errCode = -1) {
    const errMsg = op + ':fail ' + code + ': ' + message;
    super(errMsg);
    this.name = 'MinibaseError';
    this.errCode = errCode;
    this.errMsg = errMsg;
    this.code = code;
  }
}

function header(h: Record<string, string>, name: string): string | undefined {
  for (const k in h) if (k.toLowerCase() == name) return h[k];
  return undefined;
}

export function requestIdOf(res: HttpResponse) {
  return header(res.headers, 'x-request-id');
}

export function retryAfterMs(res: HttpResponse): number {
  const s = Number(header(res.headers, 'retry-after'));
  return s > 0 ? s * 1000 : 0;
}

/** An error answer of the server (API.md §0 envelope), or anything else a proxy sent. */
export function apiError(op: string, res: HttpResponse): MinibaseError {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const b: any = res.body;
  const env = b && typeof b == 'object' && b.error && typeof b.error == 'object' ? b.error : undefined;
  const e = new MinibaseError(
    op,
    env && env.code ? String(env.code) : 'HTTP_' + res.status,
    env && env.message ? String(env.message) : typeof b == 'string' && b ? b.slice(0, 200) : 'HTTP ' + res.status,
    res.status,
  );
  e.statusCode = res.status;
  e.requestId = (env && env.request_id) || requestIdOf(res);
  if (b && b.upstream) e.upstream = b.upstream;
  else if (env && env.upstream) e.upstream = env.upstream;
  return e;
}

/** A platform failure (no HTTP answer). */
export function platformError(op: string, e: unknown): MinibaseError {
  if (e instanceof MinibaseError) return e;
  const p = e as PlatformError;
  const msg = (p && (p.errMsg || p.message)) || String(e);
  const code = p && p.aborted ? 'ABORTED' : /cancel/i.test(msg) ? 'CANCELLED' : 'NETWORK_ERROR';
  return new MinibaseError(op, code, msg);
}

export function invalid(op: string, message: string) {
  return new MinibaseError(op, 'INVALID_ARGUMENT', message);
}
