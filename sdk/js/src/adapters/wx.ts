// WeChat (`wx`): login with `wx.login`, pay with `wx.requestPayment` (WeChat Pay).
import { Api, codeLogin, mpAdapter, requestPayment } from './mp';
import { Adapter } from './types';

export function wxAdapter(api: Api = typeof wx != 'undefined' ? wx : undefined): Adapter {
  return mpAdapter('wx', api, { provider: 'wechat', login: codeLogin, pay: requestPayment });
}

declare const wx: Api;
