// Sign-in and tokens (docs/sdk.md "Sign-in and tokens").
//
// - The session (access token, refresh token, expiry, user) lives in the platform's storage
//   under `minibase:auth:<url>`, so it survives restarts of the mini program.
// - `token()` signs in first when there is no session and the platform has a login code
//   (`wx.login`…), as wx.cloud does implicitly; refreshes when the access token expires within
//   a quarter of its lifetime (at most a minute).
// - One refresh in flight at a time: every caller waiting on a token shares it. Refresh tokens
//   rotate and reusing an old one revokes the session, so two refreshes must never race.
// - A refused refresh (revoked, expired) signs in again through the platform's login without
//   the page noticing; only where there is no login code does the call fail UNAUTHENTICATED.
import { Adapter } from '../adapters/types';
import { invalid, MinibaseError, platformError } from './errors';
import { Http, isUnauthenticated, TokenSource } from './http';

export interface User {
  id: string;
  openid: string;
  unionid?: string;
  platform: string;
  phone_number?: string;
  [k: string]: unknown;
}

interface Session {
  access_token: string;
  refresh_token: string;
  /** ms since the epoch, by this device's clock. */
  expires_at: number;
  /** the access token's lifetime in ms. */
  ttl: number;
  user: User;
}

interface LoginAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: User;
}

export interface SignInOptions {
  /** A login code you already have (otherwise the platform's login is called). */
  code?: string;
  /** The login endpoint's provider: `wechat`, `qq`, `douyin`, `alipay`, `baidu`. */
  provider?: string;
}

export interface PhoneNumber {
  phoneNumber: string;
  purePhoneNumber: string;
  countryCode: string;
}

type Listener = (user: User | null) => void;

export class Auth implements TokenSource {
  private session: Session | null | undefined; // undefined: not read from storage yet
  private flight: Promise<string> | null = null;
  private listeners: Listener[] = [];
  private key: string;

  constructor(
    private http: Http,
    private adapter: Adapter,
    private o: { autoSignIn: boolean; provider?: string; serviceKey?: string },
  ) {
    this.key = 'minibase:auth:' + http.base;
  }

  private load(): Session | null {
    if (this.session === undefined) {
      this.session = null;
      try {
        const raw = this.adapter.storage.get(this.key);
        const s = raw && JSON.parse(raw);
        if (s && s.access_token && s.refresh_token && s.user) this.session = s;
      } catch (_) {
        /* unreadable: signed out */
      }
    }
    return this.session as Session | null;
  }

  private save(s: Session | null) {
    const before = this.session ? this.session.user : null;
    this.session = s;
    try {
      if (s) this.adapter.storage.set(this.key, JSON.stringify(s));
      else this.adapter.storage.remove(this.key);
    } catch (_) {
      /* storage full: the session still works in memory */
    }
    const after = s ? s.user : null;
    if (JSON.stringify(before) != JSON.stringify(after)) this.emit();
  }

  private emit() {
    const u = this.currentUser;
    for (const l of this.listeners.slice()) {
      try {
        l(u);
      } catch (_) {
        /* a listener's bug is not ours */
      }
    }
  }

  private adopt(a: LoginAnswer): string {
    const ttl = Math.max(1, Number(a.expires_in) || 0) * 1000;
    this.save({ access_token: a.access_token, refresh_token: a.refresh_token, expires_at: Date.now() + ttl, ttl, user: a.user });
    return a.access_token;
  }

  /** The signed-in user, or null. */
  get currentUser(): User | null {
    const s = this.load();
    return s ? s.user : null;
  }

  /** Calls `cb(user | null)` now (asynchronously) and on every sign-in, sign-out and change of
   * the user; returns a function that stops it. */
  onAuthStateChanged(cb: Listener): () => void {
    this.listeners.push(cb);
    Promise.resolve().then(() => this.listeners.indexOf(cb) >= 0 && cb(this.currentUser));
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  canRenew() {
    return !this.o.serviceKey;
  }

  /** Signs in with the platform's login code (`wx.login`, `my.getAuthCode`…). */
  signIn(opts: SignInOptions = {}): Promise<User> {
    return this.single(() => this.doSignIn(opts)).then(() => this.currentUser as User);
  }

  private async doSignIn(opts: SignInOptions): Promise<string> {
    const op = 'auth.signIn';
    const provider = opts.provider || this.o.provider || this.adapter.provider;
    let code = opts.code;
    if (!code) {
      if (!this.adapter.login) throw new MinibaseError(op, 'UNSUPPORTED', 'no login code on ' + this.adapter.name + ': pass {code}');
      try {
        code = await this.adapter.login();
      } catch (e) {
        throw platformError(op, e);
      }
    }
    if (!provider) throw invalid(op, 'no login provider: pass {provider}');
    const a = await this.http.call<LoginAnswer>(op, 'POST', '/api/auth/' + provider + '/login', { code }, { auth: false });
    return this.adopt(a);
  }

  /** Development only: signs in as `openid` through `POST /api/auth/dev/login` (the server
   * must run with `auth.dev_login`). */
  signInWithOpenid(openid: string): Promise<User> {
    return this.single(async () =>
      this.adopt(await this.http.call<LoginAnswer>('auth.signInWithOpenid', 'POST', '/api/auth/dev/login', { openid }, { auth: false })),
    ).then(() => this.currentUser as User);
  }

  /** Binds the phone number of a `<button open-type="getPhoneNumber">` event (or `{code}`). */
  async signInWithPhoneNumber(e: { detail?: { code?: string }; code?: string }): Promise<PhoneNumber & { user: User }> {
    const op = 'auth.signInWithPhoneNumber';
    const code = (e && e.detail && e.detail.code) || (e && e.code);
    if (!code) throw new MinibaseError(op, 'CANCELLED', 'no code: the user refused or the button is not getPhoneNumber');
    const r = await this.http.call<{ phone_number: string; pure_phone_number: string; country_code: string }>(op, 'POST', '/api/auth/wechat/phone', { code });
    const s = this.load();
    if (s) this.save(Object.assign({}, s, { user: Object.assign({}, s.user, { phone_number: r.phone_number }) }));
    return { phoneNumber: r.phone_number, purePhoneNumber: r.pure_phone_number, countryCode: r.country_code, user: this.currentUser as User };
  }

  /** Reads the user from the server (`GET /api/auth/me`). */
  async getUser(): Promise<User> {
    const r = await this.http.call<{ user: User }>('auth.getUser', 'GET', '/api/auth/me', undefined, { read: true });
    const s = this.load();
    if (s && r.user) this.save(Object.assign({}, s, { user: r.user }));
    return r.user;
  }

  /** Signs out: the server revokes the session; the stored tokens are forgotten. */
  async signOut(): Promise<void> {
    const s = this.load();
    this.save(null);
    if (s) {
      try {
        await this.http.call('auth.signOut', 'POST', '/api/auth/logout', { refresh_token: s.refresh_token }, { auth: false });
      } catch (_) {
        /* already revoked or offline: forgotten here anyway */
      }
    }
  }

  /** The access token to send, after signing in or refreshing when needed. */
  async token(op: string): Promise<string | undefined> {
    if (this.o.serviceKey) return this.o.serviceKey;
    if (this.flight) return this.flight;
    const s = this.load();
    if (!s) {
      if (this.o.autoSignIn && this.adapter.login) return this.single(() => this.doSignIn({}));
      return undefined;
    }
    if (s.expires_at - Date.now() < Math.min(60000, s.ttl / 4)) return this.renew(s.access_token, op);
    return s.access_token;
  }

  /** `stale` was refused (or is about to expire): one refresh for everybody waiting. */
  renew(stale: string, op: string): Promise<string> {
    const s = this.load();
    if (s && s.access_token != stale) return Promise.resolve(s.access_token); // renewed meanwhile
    return this.single(() => this.refresh(op));
  }

  private single(f: () => Promise<string>): Promise<string> {
    if (!this.flight) {
      this.flight = f().then(
        (t) => {
          this.flight = null;
          return t;
        },
        (e) => {
          this.flight = null;
          throw e;
        },
      );
    }
    return this.flight;
  }

  private async refresh(op: string): Promise<string> {
    const s = this.load();
    if (s) {
      try {
        return this.adopt(await this.http.call<LoginAnswer>(op, 'POST', '/api/auth/refresh', { refresh_token: s.refresh_token }, { auth: false }));
      } catch (e) {
        // offline, server down: keep the session, the caller retries later
        if (!isUnauthenticated(e) && !(e instanceof MinibaseError && e.code == 'INVALID_ARGUMENT')) throw e;
        this.save(null); // revoked or expired: gone for good
      }
    }
    if (this.adapter.login && this.o.autoSignIn) return this.doSignIn({});
    throw new MinibaseError(op, 'UNAUTHENTICATED', 'signed out: sign in again', 401);
  }
}
