// Douyin / Toutiao (`tt`): the wx shape (failures add `errNo`); login with `tt.login`, which
// answers `code` (and `anonymousCode`) — `force: true` asks the user to sign in to Douyin when
// they have not. Payment goes through `tt.pay` with your own order info.
import { Api, call, codeLogin, mpAdapter } from './mp';
import { Adapter } from './types';

export function ttAdapter(api: Api = typeof tt != 'undefined' ? tt : undefined): Adapter {
  return mpAdapter('tt', api, {
    provider: 'douyin',
    login: (a) => codeLogin(a, 'login', { force: true }),
    pay: (a, p) => call(a, 'pay', Object.assign({}, p)).promise,
  });
}

declare const tt: Api;
