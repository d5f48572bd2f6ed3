// The todo list: live with watch (every device of the user sees changes at once), add, done,
// and a photo per todo (wx.chooseMedia → mb.uploadFile with progress → the todo keeps the
// fileID; temporary URLs are fetched to show it).
const app = getApp();

function chooseImage() {
  return new Promise((resolve, reject) =>
    wx.chooseMedia({ count: 1, mediaType: ['image'], sizeType: ['compressed'], success: resolve, fail: reject }),
  );
}

Page({
  data: { todos: [], title: '', user: null, progress: 0, error: '' },

  onLoad() {
    const db = app.mb.database();
    this.db = db;
    this.todos = db.collection('todos');
    this.urls = {}; // fileID → temporary URL
    this.stopAuth = app.mb.auth.onAuthStateChanged((user) => this.setData({ user }));
    this.watcher = this.todos
      .where({ done: false })
      .orderBy('createdAt', 'desc')
      .limit(50)
      .watch({
        onChange: (snapshot) => this.show(snapshot.docs),
        onError: (err) => this.setData({ error: err.errMsg }),
      });
  },

  onUnload() {
    this.watcher.close();
    this.stopAuth();
  },

  // Renders the list; fetches temporary URLs of photos not seen yet.
  async show(docs) {
    const seq = (this.seq = (this.seq || 0) + 1);
    const missing = docs.filter((d) => d.photo && !this.urls[d.photo]).map((d) => d.photo);
    if (missing.length) {
      const { fileList } = await app.mb.getTempFileURL({ fileList: missing.map((fileID) => ({ fileID, maxAge: 3600 })) });
      for (const f of fileList) if (f.status === 0) this.urls[f.fileID] = f.tempFileURL;
      if (seq !== this.seq) return; // a newer snapshot is being shown
    }
    this.setData({
      todos: docs.map((d) => ({ _id: d._id, title: d.title, photoUrl: (d.photo && this.urls[d.photo]) || '' })),
    });
  },

  onInput(e) {
    this.setData({ title: e.detail.value });
  },

  async onAdd() {
    const title = this.data.title.trim();
    if (!title) return;
    try {
      await this.todos.add({ data: { title, done: false, createdAt: this.db.serverDate() } });
      this.setData({ title: '', error: '' });
    } catch (err) {
      this.setData({ error: err.errMsg });
    }
  },

  async onDone(e) {
    await this.todos.doc(e.currentTarget.dataset.id).update({ data: { done: true, doneAt: this.db.serverDate() } });
  },

  async onAttach(e) {
    const id = e.currentTarget.dataset.id;
    try {
      const { tempFiles } = await chooseImage();
      const openid = app.mb.auth.currentUser.openid;
      const { fileID } = await app.mb.uploadFile({
        cloudPath: `photos/${openid}/${id}-${Date.now()}.jpg`,
        filePath: tempFiles[0].tempFilePath,
        onUploadProgress: (p) => this.setData({ progress: p.progress }),
      });
      await this.todos.doc(id).update({ data: { photo: fileID } });
      this.setData({ progress: 0 });
    } catch (err) {
      this.setData({ progress: 0, error: err.errMsg });
    }
  },
});
