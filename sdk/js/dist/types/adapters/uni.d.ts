import { Api } from './mp';
import { Adapter } from './types';
export declare function uniAdapter(api?: Api): Adapter;
