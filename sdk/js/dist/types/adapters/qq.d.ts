import { Api } from './mp';
import { Adapter } from './types';
export declare function qqAdapter(api?: Api): Adapter;
