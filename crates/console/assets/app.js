// Minibase console: one page, no framework, no build step. Every value from the server is
// put into the page as text (textContent / attributes), never as HTML, so a document holding
// "<script>" or "onerror=" shows as what it is. Talks only to /_/api with the session cookie
// and the CSRF token.
'use strict';

// ---- i18n (Chinese first) ---------------------------------------------------------------
const I18N = {
  zh: {
    console: '控制台', signin: '登录', signout: '退出', name: '管理员', password: '密码',
    code: '动态验证码（如已开启）', overview: '概览', database: '数据库', users: '用户', files: '文件',
    functions: '云函数', payments: '支付', logs: '日志', settings: '设置', lang: 'English',
    rps: '请求/秒', p99: 'p99 延迟 (ms)', errrate: '错误率', ws: 'WebSocket 连接', dbsize: '数据库大小',
    docs: '文档数', colls: '集合数', uptime: '运行时间', version: '版本', tls: 'HTTPS', domains: '域名',
    requests: '请求总数', noData: '暂无数据', collections: '集合', query: '查询', where: '查询条件 where（JSON）',
    orderBy: '排序 orderBy（JSON）', limit: '每页', newDoc: '新建文档', documents: '文档', indexes: '索引',
    rules: '安全规则', ruleTester: '规则测试', prev: '上一页', next: '下一页', of: '共', save: '保存',
    delete: '删除', cancel: '取消', confirm: '确认', create: '创建', edit: '编辑文档', invalidJson: 'JSON 格式错误：',
    saved: '已保存', deleted: '已删除', created: '已创建', confirmDelete: '确定删除此文档？此操作不可撤销。',
    openid: '用户 openid（留空为未登录用户）', op: '操作', docId: '文档 _id', reqData: 'request.data（JSON，可选）',
    test: '测试', allowed: '允许', denied: '拒绝', rule: '规则', reason: '原因', fields: '字段', unique: '唯一',
    owner: '来源', read: '读', write: '写', none: '无（对用户关闭）', system: '系统集合（只读）',
    search: '搜索', searchUsers: 'openid / unionid / 手机号 / 用户 id', sessions: '登录会话', revoke: '吊销',
    revoked: '已吊销', active: '有效', linked: '同一 unionid 的其他账号', created_at: '创建时间',
    refreshed: '最近刷新', expires: '过期时间', platform: '平台', phone: '手机号', prefix: '路径前缀',
    path: '路径', size: '大小', type: '类型', updated: '更新时间', upload: '上传', download: '下载',
    uploadPath: '上传到路径（cloudPath）', chooseFile: '选择文件', confirmDeleteFile: '确定删除此文件？',
    runtime: '运行时', fnName: '函数名', description: '商品描述', paidAt: '支付时间', refundable: '可退金额（元）', timeout: '超时', memory: '内存', triggers: '定时触发器', nextRuns: '下次运行',
    invoke: '调用', event: '事件 event（JSON）', asUser: '以用户 openid 调用（留空为管理员）', result: '结果',
    duration: '耗时', fnLogs: '函数日志', recent: '最近调用', ok: '成功', failed: '失败', caller: '调用者',
    source: '来源', time: '时间', orders: '订单', state: '状态', all: '全部', from: '从', to: '到',
    amount: '金额（元）', outTradeNo: '商户订单号', history: '订单历史', refund: '退款', refundAmount: '退款金额（元）',
    refundReason: '退款原因', confirmRefund: '确认退款', confirmRefundText: '确定向用户退款 {0} 元（订单 {1}）？',
    payNotConfigured: '未配置微信支付（[wechat_pay] mchid），只能查看订单。', requestId: '请求 ID', status: '状态码',
    user: '用户', errorsOnly: '只看错误', method: '方法', audit: '操作审计', admin: '管理员', action: '操作',
    target: '对象', key: '配置项', value: '值', origin: '来源', admins: '管理员列表', lastLogin: '最近登录',
    filter: '筛选', ringOff: '未保留最近请求（console.recent_requests = 0）。', refunded: '退款',
    wrong: '出错了', signedOut: '已退出', sessionExpired: '会话已过期，请重新登录', totp: '动态验证码',
    view: '查看', close: '关闭', before: '修改前', after: '修改后', never: '从未', default: '默认值',
    refundOk: '退款已提交：{0}', doctor: '域名检查（doctor）', certExpiry: '证书有效期', runDoctor: '运行检查', reload: '刷新', locked: '已锁定', notFound: '找不到该页面',
  },
  en: {
    console: 'Console', signin: 'Sign in', signout: 'Sign out', name: 'Admin', password: 'Password',
    code: 'One-time code (if enabled)', overview: 'Overview', database: 'Database', users: 'Users', files: 'Files',
    functions: 'Functions', payments: 'Payments', logs: 'Logs', settings: 'Settings', lang: '中文',
    rps: 'Requests/s', p99: 'p99 latency (ms)', errrate: 'Error rate', ws: 'WebSockets', dbsize: 'Database size',
    docs: 'Documents', colls: 'Collections', uptime: 'Uptime', version: 'Version', tls: 'HTTPS', domains: 'Domains',
    requests: 'Requests', noData: 'No data yet', collections: 'Collections', query: 'Query', where: 'where (JSON)',
    orderBy: 'orderBy (JSON)', limit: 'Per page', newDoc: 'New document', documents: 'Documents', indexes: 'Indexes',
    rules: 'Rules', ruleTester: 'Rule tester', prev: 'Previous', next: 'Next', of: 'of', save: 'Save',
    delete: 'Delete', cancel: 'Cancel', confirm: 'Confirm', create: 'Create', edit: 'Edit document', invalidJson: 'Invalid JSON: ',
    saved: 'Saved', deleted: 'Deleted', created: 'Created', confirmDelete: 'Delete this document? This cannot be undone.',
    openid: 'User openid (empty = signed-out user)', op: 'Operation', docId: 'Document _id', reqData: 'request.data (JSON, optional)',
    test: 'Test', allowed: 'Allowed', denied: 'Denied', rule: 'Rule', reason: 'Reason', fields: 'Fields', unique: 'Unique',
    owner: 'Declared by', read: 'Read', write: 'Write', none: 'none (closed to users)', system: 'system collection (read-only)',
    search: 'Search', searchUsers: 'openid / unionid / phone / user id', sessions: 'Sessions', revoke: 'Revoke',
    revoked: 'revoked', active: 'active', linked: 'Other accounts with the same unionid', created_at: 'Created',
    refreshed: 'Refreshed', expires: 'Expires', platform: 'Platform', phone: 'Phone', prefix: 'Path prefix',
    path: 'Path', size: 'Size', type: 'Type', updated: 'Updated', upload: 'Upload', download: 'Download',
    uploadPath: 'Upload to path (cloudPath)', chooseFile: 'Choose a file', confirmDeleteFile: 'Delete this file?',
    runtime: 'Runtime', fnName: 'Name', description: 'Description', paidAt: 'Paid', refundable: 'Refundable (CNY)', timeout: 'Timeout', memory: 'Memory', triggers: 'Timer triggers', nextRuns: 'Next runs',
    invoke: 'Invoke', event: 'Event (JSON)', asUser: 'Call as user openid (empty = the admin)', result: 'Result',
    duration: 'Duration', fnLogs: 'Function logs', recent: 'Recent invocations', ok: 'ok', failed: 'failed', caller: 'Caller',
    source: 'Source', time: 'Time', orders: 'Orders', state: 'State', all: 'All', from: 'From', to: 'To',
    amount: 'Amount (CNY)', outTradeNo: 'Order no.', history: 'History', refund: 'Refund', refundAmount: 'Refund amount (CNY)',
    refundReason: 'Reason', confirmRefund: 'Confirm refund', confirmRefundText: 'Refund {0} CNY to the payer of order {1}?',
    payNotConfigured: 'WeChat Pay is not configured ([wechat_pay] mchid): orders can be viewed only.', requestId: 'Request id', status: 'Status',
    user: 'User', errorsOnly: 'Errors only', method: 'Method', audit: 'Audit log', admin: 'Admin', action: 'Action',
    target: 'Target', key: 'Key', value: 'Value', origin: 'Origin', admins: 'Admins', lastLogin: 'Last sign-in',
    filter: 'Filter', ringOff: 'Recent requests are not kept (console.recent_requests = 0).', refunded: 'refund',
    wrong: 'Something went wrong', signedOut: 'Signed out', sessionExpired: 'Your session ended; sign in again', totp: 'One-time code',
    view: 'View', close: 'Close', before: 'Before', after: 'After', never: 'never', default: 'default',
    refundOk: 'Refund submitted: {0}', doctor: 'doctor', certExpiry: 'Certificate', runDoctor: 'Run doctor', reload: 'Reload', locked: 'locked', notFound: 'No such page',
  },
};
let lang = (localStorage.getItem('mb.lang') === 'en') ? 'en' : 'zh';
const t = (k, ...args) => {
  let s = (I18N[lang][k] !== undefined) ? I18N[lang][k] : k;
  args.forEach((a, i) => { s = s.replace('{' + i + '}', String(a)); });
  return s;
};

// ---- DOM helpers: text only ------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}
function add(el, kids) {
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel, root) => (root || document).querySelector(sel);
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
const svgNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

// ---- formatting --------------------------------------------------------------------------
const pad = (n) => String(n).padStart(2, '0');
function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === 0) return t('never');
  if (typeof ms === 'object' && ms.$date !== undefined) ms = ms.$date;
  const d = new Date(ms);
  if (isNaN(d)) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function fmtDuration(secs) {
  const d = Math.floor(secs / 86400), hh = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60);
  return (d ? d + 'd ' : '') + (hh ? hh + 'h ' : '') + m + 'm';
}
const fmtNum = (v, digits) => (v === null || v === undefined) ? '—' : Number(v).toFixed(digits);
const json = (v) => JSON.stringify(v, null, 2);
const short = (v) => { const x = JSON.stringify(v); return x.length > 160 ? x.slice(0, 160) + '…' : x; };
function parseJson(text, allowEmpty) {
  if (allowEmpty && text.trim() === '') return { ok: true, value: null };
  try { return { ok: true, value: JSON.parse(text) }; } catch (e) { return { ok: false, error: e.message }; }
}
const yuan = (fen) => (fen === undefined || fen === null) ? '—' : (Number(fen) / 100).toFixed(2);

// ---- API ---------------------------------------------------------------------------------
const session = { admin: null, csrf: null };
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('HTTP ' + status));
    this.status = status; this.code = e.code; this.requestId = e.request_id;
  }
}
async function api(method, path, body, raw) {
  const headers = {};
  if (session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let payload;
  if (raw !== undefined) { payload = raw; } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch('/_/api' + path, { method, headers, body: payload, credentials: 'same-origin' });
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && session.admin && !path.startsWith('/auth/')) {
      session.admin = null; session.csrf = null;
      renderLogin(t('sessionExpired'));
    }
    throw err;
  }
  return data;
}
function errorBox(e) {
  const msg = (e && e.message) ? e.message : String(e);
  return h('div', { class: 'error', 'data-test': 'error' }, msg, e && e.requestId ? h('span', { class: 'muted small' }, '  (' + e.requestId + ')') : null);
}
async function guarded(target, fn) {
  try { return await fn(); } catch (e) { if (target) target.replaceChildren(errorBox(e)); else toast(e); return undefined; }
}
function toast(e) {
  const box = $('#flash');
  if (!box) return;
  box.replaceChildren(e instanceof Error ? errorBox(e) : h('div', { class: 'notice', 'data-test': 'notice' }, e));
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => clear(box), 6000);
}
function confirmModal(text, okLabel, danger) {
  return new Promise((resolve) => {
    const back = h('div', { class: 'modal-back', 'data-test': 'modal' });
    const done = (v) => { back.remove(); resolve(v); };
    back.appendChild(h('div', { class: 'modal' },
      h('p', {}, text),
      h('div', { class: 'row' },
        h('button', { onclick: () => done(false), 'data-test': 'modal-cancel' }, t('cancel')),
        h('button', { class: danger ? 'danger solid' : 'primary', onclick: () => done(true), 'data-test': 'modal-ok' }, okLabel || t('confirm')))));
    document.body.appendChild(back);
  });
}

// ---- shell, routing -----------------------------------------------------------------------
const PAGES = [
  ['overview', '◎', () => pageOverview],
  ['database', '▤', () => pageDatabase],
  ['users', '☺', () => pageUsers],
  ['files', '▣', () => pageFiles],
  ['functions', 'ƒ', () => pageFunctions],
  ['payments', '¥', () => pagePayments],
  ['logs', '≡', () => pageLogs],
  ['settings', '⚙', () => pageSettings],
];
let stopPage = null;
function route() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  return { page: parts[0], args: parts.slice(1) };
}
function go(...parts) { location.hash = '#/' + parts.map(encodeURIComponent).join('/'); }
function renderShell() {
  const r = route();
  const nav = h('nav', {}, PAGES.map(([id, icon]) =>
    h('a', { href: '#/' + id, class: r.page === id ? 'active' : '', 'data-test': 'nav-' + id, title: t(id) },
      h('span', { class: 'i' }, icon), h('span', { class: 't' }, t(id)))));
  const app = $('#app');
  app.replaceChildren(h('div', { class: 'shell' },
    h('aside', { class: 'side' }, h('div', { class: 'logo' }, h('img', { src: '/_/assets/icon.svg', alt: '' }), h('span', {}, 'Minibase')), nav),
    h('div', { class: 'main' },
      h('div', { class: 'top' },
        h('span', { class: 'who', 'data-test': 'who' }, session.admin),
        h('button', { onclick: switchLang, 'data-test': 'lang' }, t('lang')),
        h('button', { onclick: signOut, 'data-test': 'signout' }, t('signout'))),
      h('div', { class: 'content' }, h('div', { id: 'flash' }), h('div', { id: 'page' })))));
  showPage();
}
function showPage() {
  if (stopPage) { stopPage(); stopPage = null; }
  const r = route();
  document.querySelectorAll('.side nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#/' + r.page));
  const entry = PAGES.find(([id]) => id === r.page);
  const root = $('#page');
  if (!root) return;
  clear(root);
  if ($('#flash')) clear($('#flash'));
  window.scrollTo(0, 0);
  if (!entry) { root.appendChild(h('div', { class: 'panel' }, t('notFound'))); return; }
  document.title = t(entry[0]) + ' · Minibase ' + t('console');
  const stop = entry[2]()(root, r.args);
  if (typeof stop === 'function') stopPage = stop;
}
function switchLang() {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('mb.lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  if (session.admin) renderShell(); else renderLogin();
}
async function signOut() {
  await guarded(null, () => api('POST', '/auth/signout', {}));
  session.admin = null; session.csrf = null;
  renderLogin(t('signedOut'));
}
function renderLogin(message) {
  if (stopPage) { stopPage(); stopPage = null; }
  const err = h('div', { 'data-test': 'login-error' });
  if (message) err.appendChild(h('div', { class: 'notice' }, message));
  const name = h('input', { type: 'text', id: 'login-name', autocomplete: 'username', required: true });
  const pw = h('input', { type: 'password', id: 'login-password', autocomplete: 'current-password', required: true });
  const code = h('input', { type: 'text', id: 'login-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6 });
  const submit = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, t('signin'));
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      try {
        const r = await api('POST', '/auth/signin', { name: name.value, password: pw.value, code: code.value || undefined });
        session.admin = r.admin; session.csrf = r.csrf;
        renderShell();
      } catch (e) {
        err.replaceChildren(errorBox(e));
        pw.value = '';
      } finally { submit.disabled = false; }
    },
  },
  h('label', { class: 'field' }, h('span', {}, t('name')), name),
  h('label', { class: 'field' }, h('span', {}, t('password')), pw),
  h('label', { class: 'field' }, h('span', {}, t('code')), code),
  err,
  h('div', { class: 'row' }, submit, h('span', { class: 'grow' }), h('button', { type: 'button', onclick: switchLang, 'data-test': 'lang' }, t('lang'))));
  $('#app').replaceChildren(h('div', { class: 'login' },
    h('h1', {}, h('img', { src: '/_/assets/icon.svg', alt: '' }), 'Minibase ' + t('console')),
    h('div', { class: 'panel' }, form)));
  document.title = 'Minibase ' + t('console');
  name.focus();
}
window.addEventListener('hashchange', () => { if (session.admin) showPage(); });

// ---- tables --------------------------------------------------------------------------------
function table(cols, rows, opts) {
  opts = opts || {};
  const body = h('tbody');
  for (const r of rows) {
    const tr = h('tr', { class: [opts.onclick ? 'click' : '', opts.rowClass ? opts.rowClass(r) : ''].join(' ').trim() || null, 'data-test': opts.rowTest ? opts.rowTest(r) : null });
    if (opts.onclick) tr.addEventListener('click', () => opts.onclick(r, tr));
    for (const c of cols) {
      const v = c.get(r);
      tr.appendChild(h('td', { class: c.cls || null }, v));
    }
    body.appendChild(tr);
  }
  const tbl = h('table', {}, h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.cls === 'num' ? 'num' : null }, c.title)))), body);
  if (!rows.length) body.appendChild(h('tr', {}, h('td', { colspan: cols.length, class: 'muted' }, t('noData'))));
  return h('div', { class: 'tablewrap' }, tbl);
}

// ---- Overview ------------------------------------------------------------------------------
function chart(title, samples, key, fmt) {
  const W = 320, H = 120, P = 4;
  const pts = samples.map((p) => (p[key] === null || p[key] === undefined) ? 0 : Number(p[key]));
  const max = Math.max(1e-9, ...pts);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' });
  for (const f of [0.25, 0.5, 0.75]) svg.appendChild(s('line', { class: 'grid', x1: 0, x2: W, y1: H * f, y2: H * f }));
  if (pts.length > 1) {
    const x = (i) => P + (W - 2 * P) * i / (pts.length - 1);
    const y = (v) => H - P - (H - 2 * P) * v / max;
    let d = `M${x(0)},${y(pts[0])}`;
    pts.forEach((v, i) => { if (i) d += ` L${x(i)},${y(v)}`; });
    svg.appendChild(s('path', { class: 'area', d: d + ` L${x(pts.length - 1)},${H} L${x(0)},${H} Z` }));
    svg.appendChild(s('path', { class: 'line', d }));
  }
  const last = pts.length ? pts[pts.length - 1] : null;
  return h('div', { class: 'card chart', 'data-test': 'chart-' + key },
    h('div', { class: 'k' }, h('span', {}, title), h('span', {}, last === null ? t('noData') : fmt(last) + ' (max ' + fmt(max) + ')')), svg);
}
function pageOverview(root) {
  const body = h('div', {}, h('p', { class: 'muted' }, '…'));
  root.append(h('h1', {}, t('overview')), body);
  const load = () => guarded(body, async () => {
    const o = await api('GET', '/overview');
    const last = o.samples.length ? o.samples[o.samples.length - 1] : {};
    const card = (k, v, test) => h('div', { class: 'card', 'data-test': test }, h('div', { class: 'k' }, t(k)), h('div', { class: 'v' }, v));
    body.replaceChildren(
      h('div', { class: 'cards' },
        card('rps', fmtNum(last.rps, 1), 'card-rps'),
        card('p99', fmtNum(last.p99_ms, 1), 'card-p99'),
        card('errrate', last.error_rate === undefined ? '—' : (last.error_rate * 100).toFixed(2) + '%', 'card-errors'),
        card('ws', o.websockets, 'card-ws'),
        card('dbsize', fmtBytes(o.database.bytes), 'card-dbsize'),
        card('colls', o.database.collections === null ? '—' : o.database.collections, 'card-colls'),
        card('docs', o.database.documents === null ? '—' : o.database.documents, 'card-docs'),
        card('requests', o.requests_total, 'card-requests'),
        card('uptime', fmtDuration(o.uptime_secs), 'card-uptime'),
        card('version', o.version, 'card-version')),
      h('div', { class: 'charts' },
        chart(t('rps'), o.samples, 'rps', (v) => v.toFixed(1)),
        chart(t('p99'), o.samples, 'p99_ms', (v) => v.toFixed(1)),
        chart(t('errrate'), o.samples, 'error_rate', (v) => (v * 100).toFixed(2) + '%'),
        chart(t('ws'), o.samples, 'websockets', (v) => String(Math.round(v)))),
      h('div', { class: 'panel', 'data-test': 'https' }, h('h3', {}, t('tls')),
        h('p', {}, h('span', { class: 'pill' }, o.tls.mode), ' ', t('domains') + ': ', o.tls.domains.length ? o.tls.domains.join(', ') : '—'),
        o.doctor.length ? table([
          { title: t('domains'), get: (d) => h('code', {}, d.domain) },
          { title: t('doctor'), get: (d) => d.last ? h('span', { class: 'pill ' + (d.last.report.ok ? 'ok' : 'bad'), 'data-test': 'doctor-' + d.domain }, d.last.report.ok ? t('ok') : t('failed')) : h('span', { class: 'muted' }, t('never')) },
          { title: t('certExpiry'), get: (d) => { const c = d.last && d.last.report.checks.find((x) => x.id === 'expiry'); return c ? c.message : '—'; } },
          { title: t('time'), get: (d) => d.last ? fmtTime(d.last.at) : '' },
          { title: '', get: (d) => h('span', {},
            d.last ? h('details', {}, h('summary', {}, t('view')), table([
              { title: '', get: (c) => h('span', { class: 'pill ' + ({ pass: 'ok', warn: 'warn', fail: 'bad' }[c.status] || '') }, c.status) },
              { title: '', get: (c) => h('code', {}, c.id) },
              { title: '', get: (c) => h('span', {}, c.message, c.fix ? h('div', { class: 'muted small' }, c.fix) : null) }], d.last.report.checks)) : null,
            h('button', { 'data-test': 'run-doctor-' + d.domain, onclick: async (ev) => {
              ev.target.disabled = true;
              await guarded(null, () => api('POST', '/doctor', { domain: d.domain }));
              load();
            } }, t('runDoctor'))) },
        ], o.doctor) : null));
  });
  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}

// ---- Database ------------------------------------------------------------------------------
function pageDatabase(root, args) {
  const coll = args[0];
  const tab = args[1] || 'docs';
  const side = h('div', { class: 'panel list', 'data-test': 'collections' }, h('p', { class: 'muted' }, '…'));
  const main = h('div', { class: 'grow' });
  root.append(h('h1', {}, t('database')), h('div', { class: 'cols' }, side, main));
  guarded(side, async () => {
    const r = await api('GET', '/db/collections');
    side.replaceChildren(h('h3', {}, t('collections')), ...r.data.map((c) =>
      h('a', { href: '#/database/' + encodeURIComponent(c.name), class: c.name === coll ? 'active' : '', 'data-test': 'coll-' + c.name },
        h('span', {}, c.name), h('span', { class: 'muted' }, String(c.count)))));
    if (!r.data.length) side.appendChild(h('p', { class: 'muted' }, t('noData')));
  });
  if (!coll) { main.appendChild(h('div', { class: 'panel muted' }, t('collections') + ' →')); return; }
  const tabs = h('div', { class: 'tabs' },
    [['docs', t('documents')], ['meta', t('indexes') + ' / ' + t('rules')], ['tester', t('ruleTester')]].map(([id, label]) =>
      h('a', { href: '#/database/' + encodeURIComponent(coll) + '/' + id, class: tab === id ? 'active' : '', 'data-test': 'tab-' + id }, label)));
  main.append(h('h2', {}, coll), tabs);
  if (tab === 'meta') return dbMeta(main, coll);
  if (tab === 'tester') return dbTester(main, coll);
  return dbDocs(main, coll);
}
function dbDocs(main, coll) {
  const state = { skip: 0, limit: 20 };
  const where = h('textarea', { class: 'code', id: 'db-where', rows: 3, placeholder: '{"done": false}' });
  const order = h('input', { type: 'text', id: 'db-order', class: 'grow', placeholder: '[["_id","desc"]]' });
  const limit = h('select', { id: 'db-limit' }, [20, 50, 100].map((n) => h('option', { value: n }, String(n))));
  const results = h('div', { 'data-test': 'db-results' });
  const editor = h('div');
  const run = () => guarded(results, async () => {
    const w = parseJson(where.value, true), o = parseJson(order.value, true);
    if (!w.ok) throw new Error(t('invalidJson') + w.error);
    if (!o.ok) throw new Error(t('invalidJson') + o.error);
    state.limit = Number(limit.value);
    const started = performance.now();
    const r = await api('POST', '/db/' + encodeURIComponent(coll) + '/query', { where: w.value, orderBy: o.value, skip: state.skip, limit: state.limit });
    const ms = performance.now() - started;
    const from = r.total ? state.skip + 1 : 0, to = state.skip + r.data.length;
    results.replaceChildren(
      table([
        { title: '_id', get: (d) => h('code', {}, d._id) },
        { title: 'JSON', cls: 'json', get: (d) => short(d) },
      ], r.data, { onclick: (d) => openDoc(d), rowTest: (d) => 'doc-' + d._id }),
      h('div', { class: 'row', style: null },
        h('button', { disabled: state.skip === 0, onclick: () => { state.skip = Math.max(0, state.skip - state.limit); run(); }, 'data-test': 'db-prev' }, t('prev')),
        h('button', { disabled: to >= r.total, onclick: () => { state.skip += state.limit; run(); }, 'data-test': 'db-next' }, t('next')),
        h('span', { class: 'muted', 'data-test': 'db-range' }, `${from}–${to} ${t('of')} ${r.total}`),
        h('span', { class: 'muted small', 'data-test': 'db-ms' }, ms.toFixed(0) + ' ms')));
  });
  const openDoc = (d) => {
    const isNew = !d;
    const ta = h('textarea', { class: 'code tall', id: 'doc-editor', spellcheck: 'false' });
    ta.value = isNew ? '{\n  \n}' : json(d);
    const msg = h('div');
    const save = async () => {
      const p = parseJson(ta.value);
      if (!p.ok || typeof p.value !== 'object' || Array.isArray(p.value) || p.value === null) {
        msg.replaceChildren(errorBox(new Error(t('invalidJson') + (p.error || 'an object is expected'))));
        return;
      }
      await guarded(msg, async () => {
        if (isNew) {
          const r = await api('POST', '/db/' + encodeURIComponent(coll) + '/docs', { data: p.value });
          toast(t('created') + ': ' + r._id);
        } else {
          await api('PUT', '/db/' + encodeURIComponent(coll) + '/docs/' + encodeURIComponent(d._id), { data: p.value });
          toast(t('saved'));
        }
        clear(editor);
        run();
      });
    };
    const del = async () => {
      if (!await confirmModal(t('confirmDelete'), t('delete'), true)) return;
      await guarded(msg, async () => {
        await api('DELETE', '/db/' + encodeURIComponent(coll) + '/docs/' + encodeURIComponent(d._id));
        toast(t('deleted'));
        clear(editor);
        run();
      });
    };
    editor.replaceChildren(h('div', { class: 'panel', 'data-test': 'doc-panel' },
      h('h3', {}, isNew ? t('newDoc') : t('edit') + ' ' + d._id),
      ta, msg,
      h('div', { class: 'row' },
        h('button', { class: 'primary', onclick: save, 'data-test': 'doc-save' }, isNew ? t('create') : t('save')),
        isNew ? null : h('button', { class: 'danger', onclick: del, 'data-test': 'doc-delete' }, t('delete')),
        h('button', { onclick: () => clear(editor) }, t('close')))));
    ta.focus();
  };
  main.append(
    h('div', { class: 'panel' },
      h('label', { class: 'field' }, h('span', {}, t('where')), where),
      h('div', { class: 'row' },
        h('label', { class: 'field grow' }, h('span', {}, t('orderBy')), order),
        h('label', { class: 'field' }, h('span', {}, t('limit')), limit)),
      h('div', { class: 'row' },
        h('button', { class: 'primary', onclick: () => { state.skip = 0; run(); }, 'data-test': 'db-query' }, t('query')),
        h('button', { onclick: () => openDoc(null), 'data-test': 'db-new' }, t('newDoc')))),
    editor,
    h('div', { class: 'panel' }, results));
  run();
}
function dbMeta(main, coll) {
  const box = h('div');
  main.append(box);
  guarded(box, async () => {
    const m = await api('GET', '/db/' + encodeURIComponent(coll) + '/meta');
    const rule = (v) => v === null || v === undefined ? h('span', { class: 'muted' }, t('none')) : h('code', {}, v);
    box.replaceChildren(
      h('div', { class: 'panel', 'data-test': 'rules' }, h('h3', {}, t('rules')),
        m.rules.system ? h('p', { class: 'muted' }, t('system')) : null,
        table([{ title: t('op'), get: (r) => r[0] }, { title: t('rule'), get: (r) => rule(r[1]) }],
          [['read', m.rules.read], ['create', m.rules.create], ['update', m.rules.update], ['delete', m.rules.delete]])),
      h('div', { class: 'panel', 'data-test': 'indexes' }, h('h3', {}, t('indexes')),
        table([
          { title: t('fields'), get: (i) => h('code', {}, i.fields.join(', ')) },
          { title: t('unique'), get: (i) => i.unique ? '✓' : '' },
          { title: t('owner'), get: (i) => i.owner },
          { title: 'name', get: (i) => h('span', { class: 'muted small' }, i.name) },
        ], m.indexes)));
  });
}
function dbTester(main, coll) {
  const openid = h('input', { type: 'text', id: 'rt-openid', class: 'grow' });
  const op = h('select', { id: 'rt-op' }, ['read', 'update', 'delete', 'create'].map((o) => h('option', { value: o }, o)));
  const id = h('input', { type: 'text', id: 'rt-id', class: 'grow' });
  const data = h('textarea', { class: 'code', id: 'rt-data', rows: 3 });
  const out = h('div', { 'data-test': 'rt-result' });
  const run = () => guarded(out, async () => {
    const d = parseJson(data.value, true);
    if (!d.ok) throw new Error(t('invalidJson') + d.error);
    const body = { openid: openid.value.trim(), op: op.value };
    if (op.value === 'create') body.doc = d.value || {}; else { body.id = id.value.trim(); if (d.value !== null) body.data = d.value; }
    const r = await api('POST', '/db/' + encodeURIComponent(coll) + '/rules/test', body);
    out.replaceChildren(h('div', { class: 'panel' },
      h('p', {}, h('span', { class: 'pill ' + (r.allowed ? 'ok' : 'bad'), 'data-test': 'rt-verdict' }, r.allowed ? t('allowed') : t('denied'))),
      h('p', {}, t('rule') + ': ', r.rule === null ? h('span', { class: 'muted' }, '—') : h('code', {}, r.rule)),
      h('p', { class: 'muted' }, t('reason') + ': ', r.reason),
      r.caller ? h('p', { class: 'muted small' }, 'auth = ', h('code', {}, JSON.stringify(r.caller))) : null));
    out.scrollIntoView({ block: 'nearest' });
  });
  main.append(h('div', { class: 'panel' },
    h('div', { class: 'row' }, h('label', { class: 'field grow' }, h('span', {}, t('openid')), openid), h('label', { class: 'field' }, h('span', {}, t('op')), op)),
    h('label', { class: 'field' }, h('span', {}, t('docId')), id),
    h('label', { class: 'field' }, h('span', {}, t('reqData') + ' / create: doc'), data),
    h('button', { class: 'primary', onclick: run, 'data-test': 'rt-run' }, t('test'))), out);
}

// ---- Users ---------------------------------------------------------------------------------
function pageUsers(root, args) {
  const q = h('input', { type: 'search', id: 'users-q', class: 'grow', placeholder: t('searchUsers') });
  const list = h('div', { class: 'panel' });
  const detail = h('div');
  const search = () => guarded(list, async () => {
    const r = await api('GET', '/users?q=' + encodeURIComponent(q.value.trim()));
    list.replaceChildren(table([
      { title: 'id', get: (u) => h('code', {}, u._id) },
      { title: 'openid', get: (u) => u.openid },
      { title: 'unionid', get: (u) => u.unionid || '' },
      { title: t('phone'), get: (u) => u.phone_number || '' },
      { title: t('platform'), get: (u) => u.platform },
      { title: t('created_at'), get: (u) => fmtTime(u.created_at) },
    ], r.data, { onclick: (u) => go('users', u._id), rowTest: (u) => 'user-' + u.openid }));
  });
  root.append(h('h1', {}, t('users')),
    h('div', { class: 'panel' }, h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); search(); } }, q, h('button', { class: 'primary', type: 'submit', 'data-test': 'users-search' }, t('search')))),
    detail, list);
  search();
  if (args[0]) showUser(detail, args[0]);
}
function showUser(box, uid) {
  guarded(box, async () => {
    const r = await api('GET', '/users/' + encodeURIComponent(uid));
    const sessions = table([
      { title: 'id', get: (x) => h('code', { class: 'small' }, x.id) },
      { title: t('platform'), get: (x) => x.platform },
      { title: t('created_at'), get: (x) => fmtTime(x.created_at) },
      { title: t('refreshed'), get: (x) => fmtTime(x.refreshed_at) },
      { title: t('expires'), get: (x) => fmtTime(x.expires_at) },
      { title: t('status'), get: (x) => x.revoked ? h('span', { class: 'pill bad' }, t('revoked') + (x.revoked_reason ? ': ' + x.revoked_reason : '')) : h('span', { class: 'pill ok' }, t('active')) },
      { title: '', get: (x) => x.revoked ? '' : h('button', { class: 'danger', 'data-test': 'revoke-' + x.id, onclick: async (ev) => {
        ev.stopPropagation();
        if (!await confirmModal(t('revoke') + ' ' + x.id + '?', t('revoke'), true)) return;
        await guarded(null, () => api('POST', '/users/' + encodeURIComponent(uid) + '/sessions/' + x.id + '/revoke', {}));
        showUser(box, uid);
      } }, t('revoke')) },
    ], r.sessions);
    box.replaceChildren(h('div', { class: 'panel', 'data-test': 'user-detail' },
      h('h2', {}, r.user.openid), h('details', { open: true }, h('summary', {}, 'JSON'), h('pre', {}, json(r.user))),
      h('h3', {}, t('sessions')), sessions,
      r.linked.length ? [h('h3', {}, t('linked')), table([
        { title: 'id', get: (u) => h('a', { href: '#/users/' + encodeURIComponent(u._id) }, u._id) },
        { title: t('platform'), get: (u) => u.platform }, { title: 'openid', get: (u) => u.openid }], r.linked)] : null));
  });
}

// ---- Files ---------------------------------------------------------------------------------
function pageFiles(root) {
  const prefix = h('input', { type: 'text', id: 'files-prefix', class: 'grow', placeholder: 'avatars/' });
  const list = h('div', { 'data-test': 'files-list' });
  const preview = h('div');
  const fileInput = h('input', { type: 'file', id: 'files-input' });
  const upPath = h('input', { type: 'text', id: 'files-path', class: 'grow', placeholder: 'images/a.png' });
  fileInput.addEventListener('change', () => { if (fileInput.files[0] && !upPath.value) upPath.value = (prefix.value || '') + fileInput.files[0].name; });
  const state = { after: [] };
  const load = (after) => guarded(list, async () => {
    let q = '/files?prefix=' + encodeURIComponent(prefix.value);
    if (after) q += '&after=' + encodeURIComponent(after);
    const r = await api('GET', q);
    const raw = (p) => '/_/api/files/raw?path=' + encodeURIComponent(p);
    list.replaceChildren(table([
      { title: '', get: (f) => f.preview ? h('img', { class: 'thumb', src: raw(f.path), alt: '', loading: 'lazy' }) : '' },
      { title: t('path'), get: (f) => h('code', {}, f.path) },
      { title: t('size'), cls: 'num', get: (f) => fmtBytes(f.size) },
      { title: t('type'), get: (f) => f.contentType },
      { title: t('updated'), get: (f) => fmtTime(f.updatedAt) },
      { title: '', get: (f) => h('span', { class: 'row' },
        f.preview ? h('button', { class: 'link', onclick: () => preview.replaceChildren(h('div', { class: 'panel' }, h('img', { class: 'preview', src: raw(f.path), alt: f.path }))) }, t('view')) : null,
        h('a', { href: raw(f.path) + '&download=1', 'data-test': 'download-' + f.path }, t('download')),
        h('button', { class: 'danger', 'data-test': 'delete-' + f.path, onclick: async () => {
          if (!await confirmModal(t('confirmDeleteFile') + ' ' + f.path, t('delete'), true)) return;
          await guarded(null, async () => { await api('DELETE', '/files/raw?path=' + encodeURIComponent(f.path)); toast(t('deleted')); });
          load();
        } }, t('delete'))) },
    ], r.data, { rowTest: (f) => 'file-' + f.path }),
    h('div', { class: 'row' }, r.next ? h('button', { onclick: () => load(r.next) }, t('next')) : null));
  });
  const upload = () => guarded(null, async () => {
    const f = fileInput.files[0];
    if (!f || !upPath.value.trim()) throw new Error(t('chooseFile'));
    await api('PUT', '/files/raw?path=' + encodeURIComponent(upPath.value.trim()), undefined, f);
    toast(t('created') + ': ' + upPath.value.trim());
    upPath.value = ''; fileInput.value = '';
    load();
  });
  root.append(h('h1', {}, t('files')),
    h('div', { class: 'panel' },
      h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); load(); } },
        h('label', { class: 'field grow' }, h('span', {}, t('prefix')), prefix), h('button', { class: 'primary', type: 'submit', 'data-test': 'files-search' }, t('search'))),
      h('div', { class: 'row' }, fileInput, h('label', { class: 'field grow' }, h('span', {}, t('uploadPath')), upPath),
        h('button', { class: 'primary', onclick: upload, 'data-test': 'files-upload' }, t('upload')))),
    preview, h('div', { class: 'panel' }, list));
  load();
}

// ---- Functions -----------------------------------------------------------------------------
function pageFunctions(root, args) {
  const list = h('div', { class: 'panel', 'data-test': 'fn-list' });
  const panel = h('div');
  const recent = h('div', { class: 'panel' });
  root.append(h('h1', {}, t('functions')), list, panel, recent);
  guarded(list, async () => {
    const r = await api('GET', '/functions');
    list.replaceChildren(table([
      { title: t('fnName'), get: (f) => h('a', { href: '#/functions/' + encodeURIComponent(f.name), 'data-test': 'fn-' + f.name }, f.name) },
      { title: t('runtime'), get: (f) => f.runtime },
      { title: t('timeout'), cls: 'num', get: (f) => (f.timeout_ms / 1000) + ' s' },
      { title: t('memory'), cls: 'num', get: (f) => fmtBytes(f.memory_limit) },
      { title: t('triggers'), get: (f) => f.timers.map((tm) => h('div', {}, h('code', {}, tm.name + ': ' + tm.expr), h('div', { class: 'muted small' }, t('nextRuns') + ': ' + tm.next.join(', ')))) },
      { title: '', get: (f) => f.config_error ? h('span', { class: 'pill bad' }, f.config_error) : '' },
    ], r.data));
    recent.replaceChildren(h('h3', {}, t('recent')), invocationsTable(r.invocations));
  });
  if (args[0]) fnInvoke(panel, args[0]);
}
function invocationsTable(list) {
  return table([
    { title: t('time'), get: (i) => fmtTime(i.at) },
    { title: t('functions'), get: (i) => i.function },
    { title: t('status'), get: (i) => h('span', { class: 'pill ' + (i.ok ? 'ok' : 'bad') }, i.ok ? t('ok') : t('failed')) },
    { title: t('duration'), cls: 'num', get: (i) => i.duration_ms.toFixed(1) + ' ms' },
    { title: t('source'), get: (i) => i.source + ' / ' + i.caller },
    { title: t('requestId'), get: (i) => h('code', { class: 'small' }, i.request_id) },
    { title: '', get: (i) => i.error || '' },
  ], list, { rowClass: (i) => i.ok ? '' : 'err' });
}
function fnInvoke(panel, name) {
  const ev = h('textarea', { class: 'code', id: 'fn-event', rows: 6 });
  ev.value = '{\n  \n}';
  const openid = h('input', { type: 'text', id: 'fn-openid', class: 'grow' });
  const out = h('div', { 'data-test': 'fn-result' });
  const run = () => guarded(out, async () => {
    const p = parseJson(ev.value, true);
    if (!p.ok) throw new Error(t('invalidJson') + p.error);
    out.replaceChildren(h('p', { class: 'muted' }, '…'));
    const r = await api('POST', '/functions/' + encodeURIComponent(name) + '/invoke', { event: p.value || {}, openid: openid.value.trim() || undefined });
    out.replaceChildren(h('div', { class: 'panel' },
      h('p', {}, h('span', { class: 'pill ' + (r.ok ? 'ok' : 'bad'), 'data-test': 'fn-status' }, r.ok ? t('ok') : t('failed')), '  ',
        t('duration') + ': ', h('span', { 'data-test': 'fn-duration' }, r.duration_ms.toFixed(1) + ' ms'), '  ', h('span', { class: 'muted small' }, r.request_id)),
      h('h3', {}, t('result')), h('pre', { 'data-test': 'fn-output' }, r.ok ? json(r.result) : r.error.code + ': ' + r.error.message),
      h('h3', {}, t('fnLogs')), h('pre', { 'data-test': 'fn-logs' }, r.logs.length ? r.logs.map((l) => `[${l.level}] ${l.message}`).join('\n') : '—')));
    out.scrollIntoView({ block: 'nearest' });
  });
  panel.replaceChildren(h('div', { class: 'panel' }, h('h2', {}, name),
    h('label', { class: 'field' }, h('span', {}, t('event')), ev),
    h('div', { class: 'row' }, h('label', { class: 'field grow' }, h('span', {}, t('asUser')), openid)),
    h('button', { class: 'primary', onclick: run, 'data-test': 'fn-invoke' }, t('invoke'))), out);
}

// ---- Payments ------------------------------------------------------------------------------
const ORDER_STATES = ['NOTPAY', 'SUCCESS', 'REFUND', 'CLOSED', 'PAYERROR'];
function pagePayments(root, args) {
  const st = h('select', { id: 'pay-state' }, h('option', { value: '' }, t('all')), ORDER_STATES.map((x) => h('option', { value: x }, x)));
  const from = h('input', { type: 'date', id: 'pay-from' });
  const to = h('input', { type: 'date', id: 'pay-to' });
  const list = h('div', { 'data-test': 'orders' });
  const detail = h('div');
  const state = { skip: 0 };
  const load = () => guarded(list, async () => {
    let q = '/pay/orders?limit=20&skip=' + state.skip;
    if (st.value) q += '&state=' + st.value;
    if (from.value) q += '&from=' + new Date(from.value + 'T00:00:00').getTime();
    if (to.value) q += '&to=' + (new Date(to.value + 'T00:00:00').getTime() + 86400000);
    const r = await api('GET', q);
    list.replaceChildren(
      r.configured ? null : h('div', { class: 'notice' }, t('payNotConfigured')),
      table([
        { title: t('outTradeNo'), get: (o) => h('code', {}, o.out_trade_no) },
        { title: t('state'), get: (o) => h('span', { class: 'pill ' + (o.state === 'SUCCESS' ? 'ok' : o.state === 'REFUND' ? 'warn' : '') }, o.state) },
        { title: t('amount'), cls: 'num', get: (o) => yuan(o.amount && o.amount.total) },
        { title: 'openid', get: (o) => o.openid },
        { title: t('created_at'), get: (o) => fmtTime(o.created_at) },
      ], r.data, { onclick: (o) => go('payments', o.out_trade_no), rowTest: (o) => 'order-' + o.out_trade_no }),
      h('div', { class: 'row' },
        h('button', { disabled: state.skip === 0, onclick: () => { state.skip = Math.max(0, state.skip - 20); load(); } }, t('prev')),
        h('button', { disabled: state.skip + r.data.length >= r.total, onclick: () => { state.skip += 20; load(); } }, t('next')),
        h('span', { class: 'muted' }, `${r.total ? state.skip + 1 : 0}–${state.skip + r.data.length} ${t('of')} ${r.total}`)));
  });
  root.append(h('h1', {}, t('payments')),
    h('div', { class: 'panel' }, h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); state.skip = 0; load(); } },
      h('label', { class: 'field' }, h('span', {}, t('state')), st),
      h('label', { class: 'field' }, h('span', {}, t('from')), from),
      h('label', { class: 'field' }, h('span', {}, t('to')), to),
      h('button', { class: 'primary', type: 'submit', 'data-test': 'pay-filter' }, t('filter')))),
    detail, h('div', { class: 'panel' }, list));
  load();
  if (args[0]) showOrder(detail, args[0], load);
}
function showOrder(box, no, reload) {
  guarded(box, async () => {
    const r = await api('GET', '/pay/orders/' + encodeURIComponent(no));
    const o = r.order;
    const amount = h('input', { type: 'text', id: 'refund-amount', inputmode: 'decimal' });
    const left = (o.refundable !== undefined && o.refundable !== null) ? o.refundable : 0;
    amount.value = yuan(left);
    const reason = h('input', { type: 'text', id: 'refund-reason', class: 'grow', maxlength: 80 });
    const msg = h('div', { 'data-test': 'refund-result' });
    const refund = async () => {
      const fen = Math.round(Number(amount.value) * 100);
      if (!(fen > 0)) { msg.replaceChildren(errorBox(new Error(t('refundAmount')))); return; }
      if (!await confirmModal(t('confirmRefundText', yuan(fen), no), t('confirmRefund'), true)) return;
      await guarded(msg, async () => {
        const res = await api('POST', '/pay/orders/' + encodeURIComponent(no) + '/refund', { refund: fen, reason: reason.value || undefined });
        toast(t('refundOk', res.out_refund_no + ' ' + res.status));
        showOrder(box, no, reload);
        reload();
      });
    };
    const canRefund = (o.state === 'SUCCESS' || o.state === 'REFUND') && left > 0;
    box.replaceChildren(h('div', { class: 'panel', 'data-test': 'order-detail' },
      h('h2', {}, no, ' ', h('span', { class: 'pill' }, o.state)),
      h('div', { class: 'cols2' },
        h('div', {}, h('h3', {}, t('history')), h('ul', { class: 'timeline', 'data-test': 'order-history' }, r.history.map((e) =>
          h('li', {}, h('div', {}, h('b', {}, e.kind), '  ', h('span', { class: 'muted small' }, fmtTime(e.at))), h('code', { class: 'small' }, JSON.stringify(e.detail)))))),
        h('div', {}, h('h3', {}, t('orders')), table([{ title: '', get: (x) => x[0] }, { title: '', get: (x) => x[1] }], [
          [t('description'), o.description], [t('amount'), yuan(o.amount && o.amount.total)], [t('refundable'), yuan(o.refundable)],
          ['openid', o.openid], [t('created_at'), fmtTime(o.created_at)], [t('paidAt'), o.paid_at ? fmtTime(o.paid_at) : '—']]))),
      h('details', {}, h('summary', {}, 'JSON'), h('pre', { class: 'small' }, json(o))),
      canRefund ? h('div', {}, h('h3', {}, t('refund')),
        h('div', { class: 'row' },
          h('label', { class: 'field' }, h('span', {}, t('refundAmount')), amount),
          h('label', { class: 'field grow' }, h('span', {}, t('refundReason')), reason),
          h('button', { class: 'danger solid', onclick: refund, 'data-test': 'refund' }, t('refund'))), msg) : msg));
  });
}

// ---- Logs ----------------------------------------------------------------------------------
function pageLogs(root) {
  const rid = h('input', { type: 'text', id: 'logs-rid', placeholder: t('requestId') });
  const path = h('input', { type: 'text', id: 'logs-path', placeholder: '/api/db/' });
  const status = h('input', { type: 'text', id: 'logs-status', placeholder: '5xx', size: 6 });
  const user = h('input', { type: 'text', id: 'logs-user', placeholder: 'openid' });
  const errors = h('input', { type: 'checkbox', id: 'logs-errors' });
  const list = h('div', { 'data-test': 'logs-list' });
  const auditBox = h('div', { 'data-test': 'audit-list' });
  const load = () => guarded(list, async () => {
    const q = new URLSearchParams();
    if (rid.value.trim()) q.set('request_id', rid.value.trim());
    if (path.value.trim()) q.set('path', path.value.trim());
    if (status.value.trim()) q.set('status', status.value.trim());
    if (user.value.trim()) q.set('user', user.value.trim());
    if (errors.checked) q.set('errors', '1');
    const r = await api('GET', '/logs?' + q.toString());
    if (!r.enabled) { list.replaceChildren(h('div', { class: 'notice' }, t('ringOff'))); return; }
    list.replaceChildren(table([
      { title: t('time'), get: (e) => fmtTime(e.at) },
      { title: t('method'), get: (e) => e.method },
      { title: t('path'), get: (e) => h('code', {}, e.path) },
      { title: t('status'), get: (e) => h('span', { class: 'pill ' + (e.status >= 500 ? 'bad' : e.status >= 400 ? 'warn' : 'ok') }, String(e.status)) },
      { title: t('duration'), cls: 'num', get: (e) => e.duration_ms.toFixed(1) + ' ms' },
      { title: t('user'), get: (e) => e.openid ? e.openid : e.caller },
      { title: 'IP', get: (e) => e.ip },
      { title: t('requestId'), get: (e) => h('code', { class: 'small' }, e.request_id) },
    ], r.data, { rowClass: (e) => e.status >= 400 ? 'err' : '', rowTest: (e) => 'req-' + e.request_id }));
  });
  const loadAudit = () => guarded(auditBox, async () => {
    const r = await api('GET', '/audit?limit=50');
    auditBox.replaceChildren(table([
      { title: t('time'), get: (a) => fmtTime(a.at) },
      { title: t('admin'), get: (a) => a.admin },
      { title: t('action'), get: (a) => h('code', {}, a.action) },
      { title: t('target'), get: (a) => a.target },
      { title: t('before'), cls: 'json', get: (a) => a.before === null ? '' : short(a.before) },
      { title: t('after'), cls: 'json', get: (a) => a.after === null ? '' : short(a.after) },
      { title: 'IP', get: (a) => a.ip },
    ], r.data));
  });
  root.append(h('h1', {}, t('logs')),
    h('div', { class: 'panel' }, h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); load(); } },
      rid, path, status, user, h('label', {}, errors, ' ', t('errorsOnly')),
      h('button', { class: 'primary', type: 'submit', 'data-test': 'logs-search' }, t('search')))),
    h('div', { class: 'panel' }, list),
    h('h2', {}, t('audit')), h('div', { class: 'panel' }, auditBox));
  load(); loadAudit();
}

// ---- Settings ------------------------------------------------------------------------------
function pageSettings(root) {
  const filter = h('input', { type: 'search', id: 'settings-filter', class: 'grow', placeholder: 'server.' });
  const list = h('div', { 'data-test': 'settings-list' });
  const admins = h('div');
  let entries = [];
  const render = () => {
    const f = filter.value.trim().toLowerCase();
    list.replaceChildren(table([
      { title: t('key'), get: (e) => h('code', {}, e.key) },
      { title: t('value'), cls: 'json', get: (e) => e.secret ? h('span', { class: 'pill warn' }, e.value || '—') : (typeof e.value === 'string' ? e.value : JSON.stringify(e.value)) },
      { title: t('origin'), get: (e) => e.origin === 'default' ? h('span', { class: 'muted' }, t('default')) : e.origin },
    ], entries.filter((e) => !f || e.key.toLowerCase().includes(f))));
  };
  filter.addEventListener('input', render);
  root.append(h('h1', {}, t('settings')), h('div', { class: 'panel' }, h('div', { class: 'row' }, filter), list), h('h2', {}, t('admins')), h('div', { class: 'panel' }, admins));
  guarded(list, async () => {
    const r = await api('GET', '/settings');
    entries = r.data;
    render();
    admins.replaceChildren(table([
      { title: t('name'), get: (a) => a.name },
      { title: t('created_at'), get: (a) => fmtTime(a.created_at) },
      { title: t('lastLogin'), get: (a) => fmtTime(a.last_login_at) },
      { title: t('totp'), get: (a) => a.totp ? '✓' : '' },
      { title: '', get: (a) => a.locked_until ? h('span', { class: 'pill bad' }, t('locked')) : '' },
    ], r.admins));
  });
}

// ---- boot ----------------------------------------------------------------------------------
async function boot() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  try {
    const r = await api('GET', '/auth/session');
    session.admin = r.admin; session.csrf = r.csrf;
    renderShell();
  } catch (_) {
    renderLogin();
  }
  window.__mbReady = performance.now();
}
boot();
