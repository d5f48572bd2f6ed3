import { Api } from './mp';
import { Adapter } from './types';
export declare function taroAdapter(api: Api): Adapter;
