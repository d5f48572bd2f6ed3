// Compiled (not run) by test/unit/types.test.js against dist/types: what a TypeScript user
// writes must type-check, and the `@ts-expect-error` lines must be errors.
import minibase, { MinibaseError, Snapshot } from '../../dist/types/index';

interface Todo {
  title: string;
  done: boolean;
  due?: Date;
}

export async function usage() {
  const app = minibase.init({ url: 'https://api.example.com', realtime: { pingInterval: 30000 } });
  const db = app.database();
  const _ = db.command;
  const todos = db.collection<Todo>('todos');

  const { data } = await todos.where({ done: false, due: _.lte(new Date()) }).orderBy('due', 'asc').limit(10).get();
  const first: string = data[0].title;
  const id: string = data[0]._id;
  const { _id } = await todos.add({ data: { title: 'x', done: false } });
  const one = await todos.doc(_id).get();
  const done: boolean = one.data.done;
  const { stats } = await todos.doc(_id).update({ data: { done: _.set(true) } });
  const n: number = stats.updated;
  const { total } = await todos.count();
  const w = todos.where({ done: false }).watch({
    onChange: (s: Snapshot) => s.docs.length + s.docChanges.length,
    onError: (e: MinibaseError) => e.code,
  });
  await w.close();
  const task = app.uploadFile({ cloudPath: 'a/b.jpg', filePath: 'wxfile://tmp', onUploadProgress: (p) => p.progress });
  task.abort();
  const { fileID } = await task;
  const { fileList } = await app.getTempFileURL({ fileList: [fileID] });
  const url: string | undefined = fileList[0].tempFileURL;
  const { result } = await app.callFunction<{ ok: boolean }>({ name: 'f', data: { a: 1 } });
  const ok: boolean = result.ok;
  const user = app.auth.currentUser;
  const openid: string | undefined = user ? user.openid : undefined;
  const { list } = await todos.aggregate().match({ done: true }).group({ _id: '$title', n: _.aggregate.sum(1) }).end();
  const geo = db.Geo.Point(113, 23);
  await app.requestPayment({ orderId: 'X1' });

  // @ts-expect-error: add needs {data}
  await todos.add({ title: 'x' });
  // @ts-expect-error: a Todo has no `nope`
  const bad: string = one.data.nope;
  // @ts-expect-error: orderBy takes asc or desc
  todos.orderBy('due', 'up');
  // @ts-expect-error: url is required
  minibase.init({});

  return [first, id, done, n, total, url, ok, openid, list, geo, bad];
}
