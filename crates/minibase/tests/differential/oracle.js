// The oracle of the differential test (crates/minibase/tests/it/db_differential.rs): runs
// CloudBase-style queries over documents with mingo (MongoDB's query language in JS) and
// prints the matching `_id`s in order.
//
// stdin:  {"docs": [...], "queries": [{"where", "orderBy", "skip", "limit"}, ...]}
// stdout: {"results": [["id", ...] | {"error": "..."}, ...]}
//
// CloudBase spellings are translated to MongoDB ones here, and nothing else:
//   - a plain nested object in `where` is flattened into dotted paths (CloudBase);
//   - `$neq` is `$ne`; field-level `$and/$or/$nor` become document-level ones on that field;
//   - `{"$date": ms}` is a Date; `{"$regex", "$options"}` stays as is;
//   - `$mod` follows MongoDB (numbers only, truncated towards zero), not JavaScript's `%`
//     with coercion (mingo would let `true % 2 == 1` match);
//   - `$all` is the `$and` of equalities, as MongoDB defines it;
//   - ties in orderBy are broken by `_id`, as Minibase does.
"use strict";
const mingo = require("mingo");
const { Context } = require("mingo/core");
const queryOps = require("mingo/operators/query");
const projectionOps = require("mingo/operators/projection");
const pipelineOps = require("mingo/operators/pipeline");
const expressionOps = require("mingo/operators/expression");

function isOps(o) {
  const ks = Object.keys(o);
  return ks.length > 0 && ks.every((k) => k.startsWith("$"));
}
function isDate(o) {
  return o && typeof o === "object" && !Array.isArray(o) && Object.keys(o).length === 1 && "$date" in o;
}
function value(v) {
  if (isDate(v)) return new Date(v.$date);
  if (Array.isArray(v)) return v.map(value);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = value(x);
    return out;
  }
  return v;
}
function cond(path, c) {
  // c is an operator object; returns a document-level filter on `path`.
  const parts = [];
  const plain = {};
  for (const [op, arg] of Object.entries(c)) {
    if (op === "$and" || op === "$or" || op === "$nor") {
      parts.push({ [op]: arg.map((x) => cond(path, x)) });
    } else if (op === "$neq") {
      plain.$ne = value(arg);
    } else if (op === "$mod") {
      parts.push({ [path]: { $mbmod: arg } });
    } else if (op === "$not") {
      const inner = cond(path, arg);
      parts.push({ $nor: [inner] });
    } else if (op === "$elemMatch") {
      plain.$elemMatch = isOps(arg) ? opsOnly(arg) : where(arg);
    } else if (op === "$all") {
      // MongoDB defines $all as the $and of equalities (so a scalar field can match);
      // mingo only matches arrays.
      parts.push({ $and: arg.map((v) => ({ [path]: { $eq: value(v) } })) });
    } else if (op === "$in" || op === "$nin") {
      plain[op] = arg.map(value);
    } else if (op === "$regex" || op === "$options") {
      plain[op] = arg;
    } else {
      plain[op] = value(arg);
    }
  }
  if (Object.keys(plain).length) parts.push({ [path]: plain });
  return parts.length === 1 ? parts[0] : { $and: parts };
}
function opsOnly(c) {
  const out = {};
  for (const [op, arg] of Object.entries(c)) out[op === "$neq" ? "$ne" : op] = value(arg);
  return out;
}
function where(w, prefix) {
  const parts = [];
  for (const [k, v] of Object.entries(w || {})) {
    if (k === "$and" || k === "$or" || k === "$nor") {
      parts.push({ [k]: v.map((x) => where(x, prefix)) });
      continue;
    }
    const path = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v) && !isDate(v) && Object.keys(v).length > 0) {
      if (isOps(v)) parts.push(cond(path, v));
      else parts.push(where(v, path));
    } else {
      parts.push({ [path]: value(v) });
    }
  }
  if (parts.length === 0) return {};
  return parts.length === 1 ? parts[0] : { $and: parts };
}

// MongoDB's $mod: numbers only, truncated towards zero.
function context() {
  const mod = (selector, args) => (obj) => {
    const vals = [];
    const walk = (v, segs) => {
      if (segs.length === 0) {
        vals.push(v);
        if (Array.isArray(v)) vals.push(...v);
        return;
      }
      if (Array.isArray(v)) {
        const i = /^(0|[1-9][0-9]*)$/.test(segs[0]) ? Number(segs[0]) : -1;
        if (i >= 0 && i < v.length) walk(v[i], segs.slice(1));
        for (const e of v) if (e && typeof e === "object" && !Array.isArray(e)) walk(e[segs[0]], segs.slice(1));
      } else if (v && typeof v === "object" && !(v instanceof Date)) {
        if (segs[0] in v) walk(v[segs[0]], segs.slice(1));
      }
    };
    walk(obj, selector.split("."));
    const [d, r] = args;
    return vals.some((x) => typeof x === "number" && Math.trunc(x) % d === r);
  };
  return Context.init({
    query: { ...queryOps, $mbmod: mod },
    projection: projectionOps,
    pipeline: pipelineOps,
    expression: expressionOps,
  });
}

function main() {
  const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const ctx = context();
  const docs = input.docs.map(value);
  const results = input.queries.map((q) => {
    try {
      const criteria = where(q.where);
      let cur = new mingo.Query(criteria, { context: ctx }).find(docs);
      const order = q.orderBy || [];
      const sort = {};
      for (const [f, dir] of order) if (!(f in sort)) sort[f] = dir === "desc" ? -1 : 1;
      if (!("_id" in sort)) sort._id = 1;
      cur = cur.sort(sort);
      if (q.skip) cur = cur.skip(q.skip);
      if (q.limit !== undefined && q.limit !== null) cur = cur.limit(q.limit);
      return cur.all().map((d) => d._id);
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify({ results }));
}
main();
