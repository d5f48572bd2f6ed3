// `collection.aggregate()…end()`: the pipeline as MongoDB/CloudBase write it (`{"$match": …}`,
// `{"$group": …}`…), sent as `POST /api/db/{c}/aggregate {"pipeline": […]}`; and
// `db.command.aggregate` (`$`), the expression operators (`$.sum('$price')` →
// `{"$sum": "$price"}`).
import { command, encode, Geo } from './command';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

// Every expression operator CloudBase lists; each writes `{"$name": argument}` (`neq` → `$ne`).
const OPS = (
  'abs add addToSet allElementsTrue and anyElementTrue arrayElemAt arrayToObject avg ceil cmp concat ' +
  'concatArrays cond dateFromParts dateFromString dateToParts dateToString dayOfMonth dayOfWeek dayOfYear ' +
  'divide eq exp filter first floor gt gte hour ifNull in indexOfArray indexOfBytes indexOfCP isArray ' +
  'isoDayOfWeek isoWeek isoWeekYear last let literal ln log log10 lt lte ltrim map max mergeObjects meta ' +
  'millisecond min minute mod month multiply neq not objectToArray or pow push range reduce reverseArray ' +
  'rtrim second setDifference setEquals setIntersection setIsSubset setUnion size slice split sqrt ' +
  'stdDevPop stdDevSamp strLenBytes strLenCP strcasecmp substr substrBytes substrCP subtract sum switch ' +
  'toBool toDate toDecimal toDouble toInt toLong toLower toObjectId toString toUpper trim trunc type week year zip'
).split(' ');

for (const op of OPS) {
  command.aggregate[op] = (...a: Any[]) => ({ [op == 'neq' ? '$ne' : '$' + op]: encode(a.length == 1 ? a[0] : a) });
}

/** A pipeline: each stage method appends `{"$stage": …}` and returns the pipeline. */
export class Pipeline {
  stages: Any[] = [];

  protected add(stage: string, v: Any) {
    this.stages.push({ ['$' + stage]: v });
    return this;
  }
  addFields(o: Any) {
    return this.add('addFields', encode(o));
  }
  bucket(o: Any) {
    return this.add('bucket', encode(o));
  }
  bucketAuto(o: Any) {
    return this.add('bucketAuto', encode(o));
  }
  count(field: string) {
    return this.add('count', field);
  }
  geoNear(o: Any) {
    const v = encode(o);
    if (o.near instanceof Geo) v.near = o.near.toJSON();
    return this.add('geoNear', v);
  }
  group(o: Any) {
    return this.add('group', encode(o));
  }
  limit(n: number) {
    return this.add('limit', n);
  }
  /** `{from, localField, foreignField, as}`, or `{from, let, pipeline: db.pipeline()….done(), as}`. */
  lookup(o: Any) {
    const v = encode(o);
    if (o.pipeline instanceof Pipeline) v.pipeline = o.pipeline.stages;
    return this.add('lookup', v);
  }
  match(q: Any) {
    return this.add('match', encode(q));
  }
  project(o: Any) {
    return this.add('project', encode(o));
  }
  replaceRoot(o: Any) {
    return this.add('replaceRoot', encode(o));
  }
  sample(o: { size: number }) {
    return this.add('sample', o);
  }
  skip(n: number) {
    return this.add('skip', n);
  }
  sort(o: Record<string, 1 | -1>) {
    return this.add('sort', o);
  }
  sortByCount(e: Any) {
    return this.add('sortByCount', encode(e));
  }
  unwind(o: Any) {
    return this.add('unwind', o);
  }
  /** Ends a sub-pipeline (`db.pipeline()…done()`, for `lookup`). */
  done() {
    return this.stages;
  }
}
