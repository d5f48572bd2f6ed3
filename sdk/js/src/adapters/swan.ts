// Baidu (`swan`): the wx shape (failures are `{errCode, errMsg}`); the login code comes from
// `swan.getLoginCode` (newer base libraries) or `swan.login`. Payment:
// `swan.requestPolymerPayment` with your order info.
import { Api, call, codeLogin, mpAdapter } from './mp';
import { Adapter } from './types';

export function swanAdapter(api: Api = typeof swan != 'undefined' ? swan : undefined): Adapter {
  return mpAdapter('swan', api, {
    provider: 'baidu',
    login: (a) => codeLogin(a, typeof a.getLoginCode == 'function' ? 'getLoginCode' : 'login'),
    pay: (a, p) => call(a, 'requestPolymerPayment', Object.assign({}, p)).promise,
  });
}

declare const swan: Api;
