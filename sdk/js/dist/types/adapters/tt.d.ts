import { Api } from './mp';
import { Adapter } from './types';
export declare function ttAdapter(api?: Api): Adapter;
