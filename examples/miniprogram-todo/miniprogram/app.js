// The whole backend setup: one line. Everything else uses `getApp().mb` the way wx.cloud is
// used: mb.database(), mb.uploadFile(), mb.getTempFileURL()… Sign-in happens by itself on
// the first call (wx.login → Minibase), tokens are kept and refreshed by the SDK.
const minibase = require('./lib/minibase.wx.js');
const config = require('./config.js');

App({
  onLaunch() {
    this.mb = minibase.init({ url: config.url });
  },
});
