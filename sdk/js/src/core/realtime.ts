// Realtime `watch` over one WebSocket per app (docs/realtime.md for the protocol).
//
// - One connection carries every watcher; it opens with the first watch and closes with the
//   last `close()`.
// - Heartbeat: `{"type":"ping"}` every `pingInterval`; no frame at all within `pongTimeout`
//   after it means a dead link (phones keep half-open sockets), which is closed and reopened.
// - Reconnect with exponential backoff and jitter after any close, at once when the app
//   comes back to the foreground (`onAppShow`).
// - After a reconnect every watch is sent again. The server answers a fresh `init`; the SDK
//   compares it with the last snapshot it delivered and hands the page an ordinary snapshot
//   of what changed meanwhile (adds, updates, removes) — or nothing when nothing changed — so
//   a page keeps applying `docChanges` as if the link had never dropped.
// - Tokens: an `UNAUTHENTICATED` frame (the token expired while connected) renews the token
//   before reconnecting; an upgrade refused before opening checks the token with
//   `GET /api/auth/me` (which refreshes it on 401) before the next attempt.
import { Adapter, Socket } from '../adapters/types';
import { Auth } from './auth';
import { MinibaseError } from './errors';
import { Http } from './http';

export interface RealtimeOptions {
  pingInterval?: number;
  pongTimeout?: number;
  reconnectBase?: number;
  reconnectMax?: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any> & { _id: string };

export interface DocChange {
  id: number;
  dataType: 'init' | 'add' | 'update' | 'replace' | 'remove' | 'limit';
  queueType: 'init' | 'enqueue' | 'update' | 'dequeue';
  docId: string;
  doc?: Doc;
  updatedFields?: Record<string, unknown>;
  removedFields?: string[];
}

export interface Snapshot {
  /** Event number of this watcher, from 1. */
  id: number;
  /** `'init'` on the first snapshot only. */
  type?: 'init';
  /** The whole result after the change, in `orderBy` order. */
  docs: Doc[];
  docChanges: DocChange[];
}

export interface WatchHandlers {
  onChange: (snapshot: Snapshot) => void;
  onError?: (error: MinibaseError) => void;
}

export class Watcher {
  /** Event number of the last snapshot delivered. */
  eventId = 0;
  last: Doc[] | null = null;
  closed = false;

  constructor(
    public id: string,
    public msg: Record<string, unknown>,
    public h: WatchHandlers,
    private rt: Realtime,
  ) {}

  /** Stops the watch (sends `unwatch`; the last watcher closes the connection). */
  close(): Promise<void> {
    if (!this.closed) this.rt.drop(this, true);
    return Promise.resolve();
  }
}

export class Realtime {
  private ws?: Socket;
  private state: 0 | 1 | 2 = 0; // closed, connecting, open
  private watchers: Record<string, Watcher> = {};
  private n = 0;
  private seq = 0;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private stale?: string; // a token the server refused
  private check = false; // the last attempt closed before opening: check the token first
  private token?: string;
  private o: Required<RealtimeOptions>;
  /** Connections opened (for tests and diagnostics). */
  opened = 0;

  constructor(
    private http: Http,
    private auth: Auth,
    private adapter: Adapter,
    o: RealtimeOptions = {},
  ) {
    this.o = {
      pingInterval: o.pingInterval || 30000,
      pongTimeout: o.pongTimeout || 10000,
      reconnectBase: o.reconnectBase || 500,
      reconnectMax: o.reconnectMax || 30000,
    };
    if (adapter.onShow) adapter.onShow(() => this.wake());
  }

  watch(msg: Record<string, unknown>, h: WatchHandlers): Watcher {
    const id = 'w' + ++this.seq;
    msg.type = 'watch';
    msg.id = id;
    const w = new Watcher(id, msg, h, this);
    this.watchers[id] = w;
    this.n++;
    if (this.state == 2) this.send(msg);
    else this.connect();
    return w;
  }

  /** Forgets a watcher; `unwatch` tells the server when it still follows it. */
  drop(w: Watcher, unwatch: boolean) {
    w.closed = true;
    if (!this.watchers[w.id]) return;
    delete this.watchers[w.id];
    this.n--;
    if (unwatch && this.state == 2) this.send({ type: 'unwatch', id: w.id });
    if (this.n == 0) this.shut();
  }

  /** Back in the foreground: reconnect now, or check that the open link still answers. */
  wake() {
    if (this.n == 0) return;
    if (this.state == 0) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.attempt = 0;
      this.connect();
    } else if (this.state == 2) this.ping();
  }

  private shut() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopTimers();
    const ws = this.ws;
    this.ws = undefined;
    this.state = 0;
    if (ws) ws.close(1000, 'no more watches');
  }

  private async connect() {
    if (this.state != 0 || this.retryTimer || this.n == 0) return;
    this.state = 1;
    let token: string | undefined;
    try {
      if (this.stale) token = await this.auth.renew(this.stale, 'watch');
      else if (this.check && this.auth.currentUser) {
        await this.auth.getUser(); // a 401 here renews the token
        token = await this.auth.token('watch');
      } else token = await this.auth.token('watch');
      this.stale = undefined;
      this.check = false;
    } catch (e) {
      this.state = 0;
      if (e instanceof MinibaseError && e.errCode == 401) return this.fail(e); // nobody to sign in
      return this.retry();
    }
    if (this.n == 0) {
      this.state = 0;
      return;
    }
    this.token = token;
    let url = this.http.base.replace(/^http/, 'ws') + '/api/realtime';
    const headers: Record<string, string> = {};
    if (token) {
      if (this.adapter.socketTokenInQuery) url += '?access_token=' + encodeURIComponent(token);
      else headers.authorization = 'Bearer ' + token;
    }
    let open = false;
    const ws: Socket = this.adapter.socket(url, headers, {
      open: () => {
        if (this.ws != ws) return;
        open = true;
        this.opened++;
        this.state = 2;
        for (const id in this.watchers) this.send(this.watchers[id].msg);
        this.pingTimer = setInterval(() => this.ping(), this.o.pingInterval);
      },
      message: (data) => {
        if (this.ws == ws) this.onMessage(data);
      },
      close: () => {
        if (this.ws != ws) return;
        this.ws = undefined;
        this.state = 0;
        this.stopTimers();
        if (!open) this.check = true;
        this.retry();
      },
      error: () => {
        /* a close follows */
      },
    });
    this.ws = ws;
  }

  private retry() {
    if (this.n == 0 || this.retryTimer) return;
    const d = Math.min(this.o.reconnectMax, this.o.reconnectBase * Math.pow(2, this.attempt++));
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.connect();
      },
      d * (0.5 + Math.random() / 2),
    );
  }

  /** Every watcher ends with `e` (signed out for good). */
  private fail(e: MinibaseError) {
    for (const id in this.watchers) {
      const w = this.watchers[id];
      this.drop(w, false);
      if (w.h.onError) w.h.onError(e);
    }
  }

  private ping() {
    this.send({ type: 'ping' });
    if (!this.deadTimer) {
      this.deadTimer = setTimeout(() => {
        // nothing came back: the link is dead though the socket looks open
        const ws = this.ws;
        this.deadTimer = undefined;
        if (!ws) return;
        this.ws = undefined;
        this.state = 0;
        this.stopTimers();
        ws.close(4000, 'no pong');
        this.retry();
      }, this.o.pongTimeout);
    }
  }

  private stopTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.pingTimer = this.deadTimer = undefined;
  }

  private send(m: unknown) {
    if (this.ws) this.ws.send(JSON.stringify(m));
  }

  private onMessage(data: string) {
    clearTimeout(this.deadTimer);
    this.deadTimer = undefined;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    let m: any;
    try {
      m = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (m.type == 'snapshot') {
      const w = this.watchers[m.id];
      if (w) {
        this.attempt = 0;
        this.deliver(w, m);
      }
    } else if (m.type == 'error') {
      const err = new MinibaseError('watch', m.error.code, m.error.message);
      if (m.id) {
        const w = this.watchers[m.id];
        if (w) {
          this.drop(w, false);
          if (w.h.onError) w.h.onError(err);
        }
      } else if (m.error.code == 'UNAUTHENTICATED') this.stale = this.token; // the close follows
    }
  }

  private deliver(w: Watcher, m: { snapshotType?: string; docs: Doc[]; docChanges: DocChange[] }) {
    const docs = decode(m.docs) as Doc[];
    let changes: DocChange[];
    let type: 'init' | undefined;
    if (m.snapshotType == 'init' && w.last) {
      changes = diff(w.last, docs); // a re-watch after a reconnect: only what changed meanwhile
      if (!changes.length) {
        w.last = docs;
        return;
      }
    } else {
      changes = decode(m.docChanges) as DocChange[];
      if (m.snapshotType == 'init') type = 'init';
    }
    w.last = docs;
    const id = ++w.eventId;
    for (const c of changes) c.id = id;
    const snap: Snapshot = { id, docs, docChanges: changes };
    if (type) snap.type = type;
    try {
      w.h.onChange(snap);
    } catch (e) {
      setTimeout(() => {
        throw e; // the page's bug: report it, do not break the connection
      });
    }
  }
}

/** Dates come as `{"$date": ms}`: give `Date` objects, as wx.cloud does. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function decode(v: any): any {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v == 'object') {
    const keys = Object.keys(v);
    if (keys.length == 1 && keys[0] == '$date' && typeof v.$date == 'number') return new Date(v.$date);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decode(v[k]);
    return out;
  }
  return v;
}

function same(a: unknown, b: unknown) {
  return JSON.stringify(a) == JSON.stringify(b);
}

/** What changed between two results of the same query (after a reconnect). */
function diff(before: Doc[], after: Doc[]): DocChange[] {
  const old: Record<string, Doc> = {};
  const now: Record<string, Doc> = {};
  const out: DocChange[] = [];
  for (const d of before) old[d._id] = d;
  for (const d of after) now[d._id] = d;
  for (const d of before) {
    if (!now[d._id]) out.push({ id: 0, dataType: 'remove', queueType: 'dequeue', docId: d._id, doc: d });
  }
  for (const d of after) {
    const o = old[d._id];
    if (!o) out.push({ id: 0, dataType: 'add', queueType: 'enqueue', docId: d._id, doc: d });
    else if (!same(o, d)) {
      const updatedFields: Record<string, unknown> = {};
      const removedFields: string[] = [];
      for (const k in d) if (!same(o[k], d[k])) updatedFields[k] = d[k];
      for (const k in o) if (!(k in d)) removedFields.push(k);
      out.push({ id: 0, dataType: 'update', queueType: 'update', docId: d._id, doc: d, updatedFields, removedFields });
    }
  }
  return out;
}
