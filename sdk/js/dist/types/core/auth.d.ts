import { Adapter } from '../adapters/types';
import { Http, TokenSource } from './http';
export interface User {
    id: string;
    openid: string;
    unionid?: string;
    platform: string;
    phone_number?: string;
    [k: string]: unknown;
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
export declare class Auth implements TokenSource {
    private http;
    private adapter;
    private o;
    private session;
    private flight;
    private listeners;
    private key;
    constructor(http: Http, adapter: Adapter, o: {
        autoSignIn: boolean;
        provider?: string;
        serviceKey?: string;
    });
    private load;
    private save;
    private emit;
    private adopt;
    /** The signed-in user, or null. */
    get currentUser(): User | null;
    /** Calls `cb(user | null)` now (asynchronously) and on every sign-in, sign-out and change of
     * the user; returns a function that stops it. */
    onAuthStateChanged(cb: Listener): () => void;
    canRenew(): boolean;
    /** Signs in with the platform's login code (`wx.login`, `my.getAuthCode`…). */
    signIn(opts?: SignInOptions): Promise<User>;
    private doSignIn;
    /** Development only: signs in as `openid` through `POST /api/auth/dev/login` (the server
     * must run with `auth.dev_login`). */
    signInWithOpenid(openid: string): Promise<User>;
    /** Binds the phone number of a `<button open-type="getPhoneNumber">` event (or `{code}`). */
    signInWithPhoneNumber(e: {
        detail?: {
            code?: string;
        };
        code?: string;
    }): Promise<PhoneNumber & {
        user: User;
    }>;
    /** Reads the user from the server (`GET /api/auth/me`). */
    getUser(): Promise<User>;
    /** Signs out: the server revokes the session; the stored tokens are forgotten. */
    signOut(): Promise<void>;
    /** The access token to send, after signing in or refreshing when needed. */
    token(op: string): Promise<string | undefined>;
    /** `stale` was refused (or is about to expire): one refresh for everybody waiting. */
    renew(stale: string, op: string): Promise<string>;
    private single;
    private refresh;
}
export {};
