import { Adapter } from './types';
import { WebOptions } from './web';
/** The adapters by name, for `init({platform})`. */
export declare const ADAPTERS: Record<string, (o: WebOptions) => Adapter>;
/** The name of the platform detected, or undefined. */
export declare function detectPlatform(): string | undefined;
