// The single-file Douyin build (`dist/minibase.tt.js`): copy it into your mini program and
// `const minibase = require('./minibase.tt.js')`. Only the `tt` adapter is inside.
import { ttAdapter } from '../adapters/tt';
import { makeSdk } from '../core/sdk';
import '../db/aggregate';

const minibase = makeSdk(() => ttAdapter());
export default minibase;
export const { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment, command, Geo, MinibaseError, version } = minibase;
