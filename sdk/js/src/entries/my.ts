// The single-file Alipay build (`dist/minibase.my.js`): copy it into your mini program and
// `const minibase = require('./minibase.my.js')`. Only the `my` adapter is inside.
import { myAdapter } from '../adapters/my';
import { makeSdk } from '../core/sdk';
import '../db/aggregate';

const minibase = makeSdk(() => myAdapter());
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, MinibaseError, version } = minibase;
