// wx.cloud's two calling styles: every method returns a Promise, and also calls
// `success`/`fail`/`complete` when the options carry them.

export interface Callbacks<T = unknown> {
  success?: (res: T) => void;
  fail?: (err: unknown) => void;
  complete?: (res: unknown) => void;
}

export function settle<T>(p: Promise<T>, o?: Callbacks<T> | unknown): Promise<T> {
  const c = o as Callbacks<T> | undefined;
  if (c && typeof c == 'object' && (c.success || c.fail || c.complete)) {
    // Handlers on `p` itself: a caller that only uses callbacks gets no unhandled rejection.
    p.then(
      (r) => {
        if (c.success) c.success(r);
        if (c.complete) c.complete(r);
      },
      (e) => {
        if (c.fail) c.fail(e);
        if (c.complete) c.complete(e);
      },
    );
  }
  return p;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
