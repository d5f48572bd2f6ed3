// The single-file QQ build (`dist/minibase.qq.js`): copy it into your mini program and
// `const minibase = require('./minibase.qq.js')`. Only the `qq` adapter is inside.
import { qqAdapter } from '../adapters/qq';
import { makeSdk } from '../core/sdk';
import '../db/aggregate';

const minibase = makeSdk(() => qqAdapter());
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, MinibaseError, version } = minibase;
