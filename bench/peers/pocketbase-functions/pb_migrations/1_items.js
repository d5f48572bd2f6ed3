// bench_items for bench/scenarios/functions.sh: 10,000 rows with a unique index on code.
migrate((app) => {
  const c = new Collection({
    type: "base",
    name: "items",
    listRule: "",
    viewRule: "",
    fields: [
      { name: "code", type: "text", required: true },
      { name: "title", type: "text" },
    ],
    indexes: ["CREATE UNIQUE INDEX idx_items_code ON items (code)"],
  });
  app.save(c);
  for (let i = 0; i < 10000; i++) {
    const r = new Record(c);
    r.set("code", "c" + i);
    r.set("title", "item " + i);
    app.save(r);
  }
}, (app) => {
  app.delete(app.findCollectionByNameOrId("items"));
});
