// uni-app (`uni`): the wx shape on every target. The login provider follows the target the app
// was built for (`uni.getSystemInfoSync().uniPlatform`: mp-weixin, mp-qq, mp-toutiao,
// mp-alipay, mp-baidu); `uni.login({provider})` answers the code, `uni.requestPayment` pays.
import { Api, call, codeLogin, mpAdapter } from './mp';
import { Adapter } from './types';

const PROVIDERS: Record<string, [string, string]> = {
  'mp-weixin': ['wechat', 'weixin'],
  'mp-qq': ['qq', 'qq'],
  'mp-toutiao': ['douyin', 'toutiao'],
  'mp-alipay': ['alipay', 'alipay'],
  'mp-baidu': ['baidu', 'baidu'],
  app: ['wechat', 'weixin'],
};

export function uniAdapter(api: Api = typeof uni != 'undefined' ? uni : undefined): Adapter {
  let platform = '';
  try {
    platform = api.getSystemInfoSync().uniPlatform || '';
  } catch (_) {
    /* older uni-app: no uniPlatform */
  }
  const p = PROVIDERS[platform];
  return mpAdapter('uni', api, {
    provider: p && p[0],
    login: p ? (a) => codeLogin(a, 'login', { provider: p[1] }) : undefined,
    pay: (a, params) =>
      call(a, 'requestPayment', Object.assign({ provider: platform == 'mp-alipay' ? 'alipay' : 'wxpay' }, params)).promise,
  });
}

declare const uni: Api;
