// The `minibase` object of every build: `init({url})`, the default app, and wx.cloud-style
// shortcuts (`minibase.database()`, `minibase.callFunction()`…) that use the default app, so
// code written for `wx.cloud` changes only its init line.
import { Adapter } from '../adapters/types';
import { command, GeoNS } from '../db/command';
import { App, InitOptions } from './app';
import { MinibaseError } from './errors';

export const VERSION = '0.1.0';

export function makeSdk(pick: (o: InitOptions) => Adapter) {
  let current: App | undefined;
  const app = (): App => {
    if (!current) throw new MinibaseError('app', 'INVALID_ARGUMENT', 'call minibase.init({url}) first');
    return current;
  };
  return {
    /** Starts an app for your server; the latest one is also the default app. */
    init(o: InitOptions): App {
      if (!o || typeof o.url != 'string' || !/^https?:\/\/[^/]+/.test(o.url)) {
        throw new MinibaseError('init', 'INVALID_ARGUMENT', 'url must be http(s)://host[:port]');
      }
      const opts = Object.assign({}, o, { url: o.url.replace(/\/+$/, '') });
      const adapter = typeof o.platform == 'object' && o.platform ? o.platform : pick(opts);
      return (current = new App(adapter, opts));
    },
    /** The default app (the latest `init`). */
    app,
    database: () => app().database(),
    callFunction: ((o) => app().callFunction(o)) as App['callFunction'],
    uploadFile: ((o) => app().uploadFile(o)) as App['uploadFile'],
    downloadFile: ((o) => app().downloadFile(o)) as App['downloadFile'],
    getTempFileURL: ((o) => app().getTempFileURL(o)) as App['getTempFileURL'],
    deleteFile: ((o) => app().deleteFile(o)) as App['deleteFile'],
    requestPayment: ((o) => app().requestPayment(o)) as App['requestPayment'],
    /** `db.command`, also without a database. */
    command,
    Geo: GeoNS,
    MinibaseError,
    version: VERSION,
  };
}

export type Sdk = ReturnType<typeof makeSdk>;
