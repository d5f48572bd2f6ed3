// Cloud functions and WeChat Pay through the wx adapter against a real server and the fake
// WeChat Pay: callFunction's shapes and errors; requestPayment by order number (the server
// signs the parameters for the payer, the simulated wx.requestPayment verifies paySign with the
// merchant's public key, the payer pays at the fake, its notification marks the order paid and
// a watcher on _pay_orders sees it), by parameters a function answered, cancelled, and refused.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('./setup');
const { snapshots } = require('./harness');

const FUNCTIONS = {
  echo: `
const cloud = require('wx-server-sdk')
cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV })
exports.main = async (event) => {
  const { OPENID } = cloud.getWXContext()
  return { got: event, openid: OPENID }
}`,
  boom: `exports.main = async () => { throw new TypeError('kaboom') }`,
  buy: `
const cloud = require('wx-server-sdk')
exports.main = async (event) => {
  const { OPENID } = cloud.getWXContext()
  return await cloud.pay.createOrder({ description: '会员月卡', amount: { total: event.total }, openid: OPENID })
}`,
};

test('functions and payment', async (t) => {
  const env = await setup(t, { functions: FUNCTIONS });
  env.onPaid = async (prepayId) => {
    const no = env.expectPrepay[prepayId];
    assert.ok(no, 'the prepay id of an order we created');
    const r = await env.fakes.controlPost('/pay', { out_trade_no: no });
    assert.deepEqual(r.deliveries, [204], 'the notification was acknowledged');
  };
  env.expectPrepay = {};
  const createOrder = async (openid, no, total = 1800) => {
    const r = await env.server.service('POST', '/api/pay/wechat/orders', { description: '会员月卡', amount: { total }, openid, out_trade_no: no });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    env.expectPrepay[r.body.prepay_id] = no;
    return r.body;
  };

  await t.test('callFunction', async () => {
    const app = env.app(env.phone('fn-alice'));
    const r = await app.callFunction({ name: 'echo', data: { a: 1, s: '中文' } });
    assert.equal(r.errMsg, 'cloud.callFunction:ok');
    assert.equal(r.result.got.a, 1);
    assert.equal(r.result.got.s, '中文');
    assert.equal(r.result.got.userInfo.openId, 'fn-alice', 'as CloudBase adds it');
    assert.equal(r.result.openid, 'fn-alice');
    assert.equal(typeof r.requestID, 'string');
    const viaCb = await new Promise((resolve) => app.callFunction({ name: 'echo', success: resolve }));
    assert.deepEqual(Object.keys(viaCb.result.got), ['userInfo']);
    await assert.rejects(app.callFunction({ name: 'nope' }), (e) => e.code == 'NOT_FOUND' && e.errCode == 404 && /^cloud\.callFunction:fail NOT_FOUND/.test(e.errMsg));
    await assert.rejects(app.callFunction({ name: 'boom' }), (e) => {
      assert.equal(e.code, 'UPSTREAM_ERROR');
      assert.match(e.errMsg, /kaboom/);
      assert.equal(e.upstream.service, 'function');
      return true;
    });
    await assert.rejects(app.callFunction({}), (e) => e.code == 'INVALID_ARGUMENT');
  });

  await t.test('requestPayment({orderId}): paid, notified, watched', async () => {
    const wx = env.phone('pay-alice');
    const app = env.app(wx);
    await app.auth.signIn();
    await createOrder('pay-alice', 'SDKPAY0001');
    const s = snapshots();
    app.database().collection('_pay_orders').where({ out_trade_no: 'SDKPAY0001' }).watch(s);
    const init = await s.next();
    assert.equal(init.docs[0].state, 'NOTPAY');
    const r = await app.requestPayment({ orderId: 'SDKPAY0001' });
    assert.deepEqual(r, { errMsg: 'requestPayment:ok', orderId: 'SDKPAY0001' });
    assert.equal(wx._calls.requestPayment, 1);
    const paid = await s.next((x) => x.docs[0] && x.docs[0].state == 'SUCCESS');
    assert.ok(paid.docs[0].paid_at instanceof Date);
    assert.equal(paid.docChanges[0].dataType, 'update');
    // once paid, it cannot be paid again
    await assert.rejects(app.requestPayment({ orderId: 'SDKPAY0001' }), (e) => e.code == 'CONFLICT' && e.errCode == 409);
    assert.equal(wx._calls.requestPayment, 1, 'wx.requestPayment is not called');
  });

  await t.test('requestPayment({payment}) with what a function answered', async () => {
    const wx = env.phone('pay-bob');
    const app = env.app(wx);
    const { result } = await app.callFunction({ name: 'buy', data: { total: 990 } });
    env.expectPrepay[result.prepay_id] = result.out_trade_no;
    await app.requestPayment({ payment: result.payment });
    const order = await env.server.service('GET', '/api/pay/wechat/orders/' + result.out_trade_no);
    assert.equal(order.body.data.state, 'SUCCESS');
    assert.equal(order.body.data.openid, 'pay-bob');
    assert.equal(order.body.data.amount.total, 990);
  });

  await t.test('a cancelled payment, someone else’s order, a tampered signature', async () => {
    const wx = env.phone('pay-carol', {});
    const app = env.app(wx);
    await createOrder('pay-carol', 'SDKPAY0003');
    // the user closes the payment sheet
    const cancelling = env.phone('pay-carol');
    const cancelApp = env.app(cancelling);
    cancelling.requestPayment = (o) => setTimeout(() => o.fail({ errMsg: 'requestPayment:fail cancel' }));
    await assert.rejects(cancelApp.requestPayment({ orderId: 'SDKPAY0003' }), (e) => e.code == 'CANCELLED' && /^requestPayment:fail CANCELLED/.test(e.errMsg));
    // someone else's order: the server does not say it exists
    await createOrder('pay-dave', 'SDKPAY0004');
    await assert.rejects(app.requestPayment({ orderId: 'SDKPAY0004' }), (e) => e.code == 'NOT_FOUND');
    // parameters whose signature does not verify are refused by (simulated) WeChat
    const { payment } = await createOrder('pay-carol', 'SDKPAY0005');
    await assert.rejects(app.requestPayment({ payment: Object.assign({}, payment, { nonceStr: 'tampered' }) }), (e) => e.code == 'PAYMENT_FAILED' && /支付验证签名失败/.test(e.errMsg));
    await assert.rejects(app.requestPayment({}), (e) => e.code == 'INVALID_ARGUMENT');
  });
});
