// Picks the adapter of the platform the code runs on. Order matters: uni-app and Taro builds
// also expose `wx` (and QQ exposes `wx` as an alias of `qq`), so the specific platforms come
// first; a browser has `window` and `document`; Node has `process.versions.node`.
import { myAdapter } from './my';
import { qqAdapter } from './qq';
import { swanAdapter } from './swan';
import { ttAdapter } from './tt';
import { Adapter } from './types';
import { uniAdapter } from './uni';
import { browserAdapter, nodeAdapter, WebOptions } from './web';
import { wxAdapter } from './wx';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const wx: any, qq: any, tt: any, my: any, swan: any, uni: any, window: any, process: any;

const has = (x: () => unknown) => {
  try {
    const v: { request?: unknown } = x() as never;
    return !!v && typeof v.request == 'function';
  } catch (_) {
    return false;
  }
};

/** The adapters by name, for `init({platform})`. */
export const ADAPTERS: Record<string, (o: WebOptions) => Adapter> = {
  wx: () => wxAdapter(),
  qq: () => qqAdapter(),
  tt: () => ttAdapter(),
  my: () => myAdapter(),
  swan: () => swanAdapter(),
  uni: () => uniAdapter(),
  browser: browserAdapter,
  node: nodeAdapter,
};

/** The name of the platform detected, or undefined. */
export function detectPlatform(): string | undefined {
  if (has(() => uni)) return 'uni';
  if (has(() => qq)) return 'qq';
  if (has(() => tt)) return 'tt';
  if (has(() => swan)) return 'swan';
  if (has(() => my)) return 'my';
  if (has(() => wx)) return 'wx';
  try {
    if (typeof window != 'undefined' && window.document) return 'browser';
  } catch (_) {
    /* no window */
  }
  try {
    if (process.versions.node) return 'node';
  } catch (_) {
    /* not Node */
  }
  return undefined;
}
