// The single-file Baidu build (`dist/minibase.swan.js`): copy it into your mini program and
// `const minibase = require('./minibase.swan.js')`. Only the `swan` adapter is inside.
import { swanAdapter } from '../adapters/swan';
import { makeSdk } from '../core/sdk';
import '../db/aggregate';

const minibase = makeSdk(() => swanAdapter());
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, MinibaseError, version } = minibase;
