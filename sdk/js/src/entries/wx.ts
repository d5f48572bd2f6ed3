// The single-file WeChat build (`dist/minibase.wx.js`): copy it into your mini program and
// `const minibase = require('./minibase.wx.js')`. Only the `wx` adapter is inside.
import { wxAdapter } from '../adapters/wx';
import { makeSdk } from '../core/sdk';
import '../db/aggregate';

const minibase = makeSdk(() => wxAdapter());
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, MinibaseError, version } = minibase;
