// Your Minibase server. Add it in 微信公众平台 → 开发管理 → 开发设置 → 服务器域名 to the request,
// socket (wss://), uploadFile and downloadFile legal domains. In the simulator you may tick
// "不校验合法域名" and use http://127.0.0.1:8090 with `minibase serve`.
module.exports = {
  url: 'https://api.example.com',
};
