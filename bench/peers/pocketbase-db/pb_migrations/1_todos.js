// PocketBase side of bench/scenarios/db.sh: `todos` with the owner-only rule Minibase's
// collection has, the same index, one user (bench@example.com) and 1,000 of their todos.
migrate((app) => {
  const users = app.findCollectionByNameOrId("users");
  const owner = "owner = @request.auth.id";
  const c = new Collection({
    type: "base",
    name: "todos",
    listRule: owner,
    viewRule: owner,
    createRule: '@request.auth.id != "" && @request.body.owner = @request.auth.id',
    updateRule: owner,
    deleteRule: owner,
    fields: [
      { name: "owner", type: "relation", collectionId: users.id, maxSelect: 1, required: true },
      { name: "title", type: "text" },
      { name: "list", type: "text" },
      { name: "due", type: "number" },
      { name: "done", type: "bool" },
      { name: "n", type: "number" },
    ],
    indexes: ["CREATE INDEX idx_todos_owner_list_due ON todos (owner, list, due DESC)"],
  });
  app.save(c);
  const u = new Record(users);
  u.set("email", "bench@example.com");
  u.setPassword("bench-password-123");
  u.set("verified", true);
  app.save(u);
  for (let i = 0; i < 1000; i++) {
    const r = new Record(c);
    r.set("owner", u.id);
    r.set("title", "todo " + i);
    r.set("list", "l" + (i % 10));
    r.set("due", i);
    r.set("done", false);
    app.save(r);
  }
}, (app) => {
  app.delete(app.findCollectionByNameOrId("todos"));
});
