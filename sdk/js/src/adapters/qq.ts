// QQ (`qq`): the wx shape; login with `qq.login`, pay with `qq.requestPayment` (QQ Wallet takes
// the parameters your order endpoint or function gives).
import { Api, codeLogin, mpAdapter, requestPayment } from './mp';
import { Adapter } from './types';

export function qqAdapter(api: Api = typeof qq != 'undefined' ? qq : undefined): Adapter {
  return mpAdapter('qq', api, { provider: 'qq', login: codeLogin, pay: requestPayment });
}

declare const qq: Api;
