import { Api } from './mp';
import { Adapter } from './types';
export declare function myAdapter(api?: Api): Adapter;
