// Taro (`import Taro from '@tarojs/taro'`; pass it: `init({url, taro: Taro})`). Taro's API is
// wx's with promises; `Taro.connectSocket` answers a promise of the SocketTask. The login
// provider follows `Taro.getEnv()` (WEAPP, QQ, TT, ALIPAY, SWAN).
import { Api, codeLogin, mpAdapter, requestPayment } from './mp';
import { Adapter } from './types';

const PROVIDERS: Record<string, string> = {
  WEAPP: 'wechat',
  QQ: 'qq',
  TT: 'douyin',
  ALIPAY: 'alipay',
  SWAN: 'baidu',
};

export function taroAdapter(api: Api): Adapter {
  let env = '';
  try {
    env = String(api.getEnv());
  } catch (_) {
    /* not Taro's object */
  }
  const provider = PROVIDERS[env];
  return mpAdapter('taro', api, {
    provider,
    login: provider ? codeLogin : undefined,
    pay: requestPayment,
  });
}
