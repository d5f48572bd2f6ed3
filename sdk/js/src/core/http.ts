// One place where every call goes out: base URL, JSON, the token, and the retry policy.
//
// Retries (docs/sdk.md "Retries"):
// - 401 UNAUTHENTICATED: the token is renewed (one refresh in flight for everybody, or a new
//   sign-in) and the call is sent once more. Safe for every call: a 401 means the server did
//   nothing.
// - 429 RATE_LIMITED: waited out (Retry-After, at most 5 s) and sent again, at most twice. Safe:
//   the limiter refuses before any work.
// - network failures and 503: only reads (`read: true`) are sent again. Writes — creates
//   above all — are never re-sent after a failure that may have reached the server: a create
//   would run twice (the server has no idempotency key), an `$inc` would add twice. The caller
//   gets `NETWORK_ERROR` and decides.
import { Adapter, HttpResponse } from '../adapters/types';
import { apiError, MinibaseError, platformError, retryAfterMs } from './errors';
import { sleep } from './callback';

export interface CallOptions {
  /** Send the user's token (default true). */
  auth?: boolean;
  /** Idempotent: retried on network failures and 503. */
  read?: boolean;
}

/** What the HTTP core needs from authentication. */
export interface TokenSource {
  /** A token to send (signs in or refreshes first when needed), or undefined (anonymous). */
  token(op: string): Promise<string | undefined>;
  /** `stale` was refused with 401: a newer token (one refresh in flight for all callers). */
  renew(stale: string, op: string): Promise<string>;
  /** Whether 401 answers can be recovered from (not for a fixed service key). */
  canRenew(): boolean;
}

export class Http {
  auth!: TokenSource;

  constructor(
    public base: string,
    public adapter: Adapter,
    public timeout: number,
  ) {}

  headers(token?: string): Record<string, string> {
    const h: Record<string, string> = {};
    if (token) h.authorization = 'Bearer ' + token;
    return h;
  }

  send(method: string, path: string, body: unknown, token?: string) {
    const headers = this.headers(token);
    let text: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      text = JSON.stringify(body);
    }
    return this.adapter.request({ url: this.base + path, method, headers, body: text, timeout: this.timeout }).promise;
  }

  /** Sends with the retry policy above; resolves to the parsed body of a 2xx answer. */
  async call<T = unknown>(op: string, method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
    const res = await this.exchange(op, o, (token) => this.send(method, path, body, token));
    return res.body as T;
  }

  /** The retry loop around any exchange (requests, uploads). */
  async exchange(op: string, o: CallOptions, go: (token?: string) => Promise<HttpResponse>): Promise<HttpResponse> {
    let token = o.auth === false ? undefined : await this.auth.token(op);
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await go(token);
      } catch (e) {
        const err = platformError(op, e);
        if (o.read && err.code == 'NETWORK_ERROR' && attempt < 2) {
          await sleep(300 * (attempt + 1));
          continue;
        }
        throw err;
      }
      if (res.status == 401 && token && !renewed && this.auth.canRenew()) {
        renewed = true;
        token = await this.auth.renew(token, op);
        continue;
      }
      if ((res.status == 429 || (o.read && res.status == 503)) && attempt < 2) {
        await sleep(Math.min(5000, retryAfterMs(res) || 300 * (attempt + 1)));
        continue;
      }
      if (res.status >= 300 || res.status < 200) throw apiError(op, res);
      return res;
    }
  }
}

export function isUnauthenticated(e: unknown) {
  return e instanceof MinibaseError && (e.code == 'UNAUTHENTICATED' || e.errCode == 401);
}
