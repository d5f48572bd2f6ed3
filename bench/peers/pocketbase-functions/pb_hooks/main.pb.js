// PocketBase peer of bench/scenarios/functions.sh: the same two endpoints as the Minibase
// functions `hello` and `item`, as PocketBase JS routes (pb_hooks routerAdd, goja VM pool).
routerAdd("POST", "/api/bench/hello", (e) => {
  const body = e.requestInfo().body;
  const data = body.data || {};
  return e.json(200, { result: { hello: data.name || "world" } });
});
routerAdd("POST", "/api/bench/item", (e) => {
  const data = e.requestInfo().body.data || {};
  const rec = $app.findFirstRecordByFilter("items", "code = {:code}", { code: data.code });
  return e.json(200, { result: { _id: rec.id, code: rec.get("code"), title: rec.get("title") } });
});
