type Any = any;
/** A pipeline: each stage method appends `{"$stage": …}` and returns the pipeline. */
export declare class Pipeline {
    stages: Any[];
    protected add(stage: string, v: Any): this;
    addFields(o: Any): this;
    bucket(o: Any): this;
    bucketAuto(o: Any): this;
    count(field: string): this;
    geoNear(o: Any): this;
    group(o: Any): this;
    limit(n: number): this;
    /** `{from, localField, foreignField, as}`, or `{from, let, pipeline: db.pipeline()….done(), as}`. */
    lookup(o: Any): this;
    match(q: Any): this;
    project(o: Any): this;
    replaceRoot(o: Any): this;
    sample(o: {
        size: number;
    }): this;
    skip(n: number): this;
    sort(o: Record<string, 1 | -1>): this;
    sortByCount(e: Any): this;
    unwind(o: Any): this;
    /** Ends a sub-pipeline (`db.pipeline()…done()`, for `lookup`). */
    done(): any[];
}
export {};
