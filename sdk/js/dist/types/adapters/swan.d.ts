import { Api } from './mp';
import { Adapter } from './types';
export declare function swanAdapter(api?: Api): Adapter;
