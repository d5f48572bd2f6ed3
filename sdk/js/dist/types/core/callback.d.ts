export interface Callbacks<T = unknown> {
    success?: (res: T) => void;
    fail?: (err: unknown) => void;
    complete?: (res: unknown) => void;
}
export declare function settle<T>(p: Promise<T>, o?: Callbacks<T> | unknown): Promise<T>;
export declare const sleep: (ms: number) => Promise<void>;
