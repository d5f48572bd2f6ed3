// The npm package's entry (ESM `dist/index.mjs`, CommonJS `dist/index.cjs`): every adapter,
// the platform detected at `init` unless `platform` names one (or is an adapter object).
import { ADAPTERS, detectPlatform } from './adapters/detect';
import { taroAdapter } from './adapters/taro';
import { Adapter } from './adapters/types';
import { InitOptions } from './core/app';
import { MinibaseError } from './core/errors';
import { makeSdk } from './core/sdk';
import './db/aggregate';

function pick(o: InitOptions): Adapter {
  const name = (o.platform as string) || (o.taro ? 'taro' : detectPlatform());
  if (name == 'taro') return taroAdapter(o.taro);
  const make = name && ADAPTERS[name];
  if (!make) throw new MinibaseError('init', 'UNSUPPORTED', 'unknown platform ' + name + ': pass {platform}');
  return make(o);
}

const minibase = makeSdk(pick);
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, version } = minibase;

export { MinibaseError };
export { wxAdapter } from './adapters/wx';
export { qqAdapter } from './adapters/qq';
export { ttAdapter } from './adapters/tt';
export { myAdapter } from './adapters/my';
export { swanAdapter } from './adapters/swan';
export { uniAdapter } from './adapters/uni';
export { taroAdapter };
export { browserAdapter, nodeAdapter } from './adapters/web';
export { detectPlatform };
export type { Adapter, HttpRequest, HttpResponse, UploadRequest, Progress, Socket, SocketHandlers, Task } from './adapters/types';
export type { App, InitOptions, UploadFileOptions, UploadFileResult, UploadTask, FileInfo } from './core/app';
export type { Auth, User, PhoneNumber, SignInOptions } from './core/auth';
export type { Snapshot, DocChange, Watcher, WatchHandlers, RealtimeOptions } from './core/realtime';
export type { Database, Query, CollectionReference, DocumentReference, Aggregate, Doc } from './db/database';
export type { Command, Geo as GeoValue, ServerDate, DbRegExp } from './db/command';
export type { Pipeline } from './db/aggregate';
