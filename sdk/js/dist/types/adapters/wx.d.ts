import { Api } from './mp';
import { Adapter } from './types';
export declare function wxAdapter(api?: Api): Adapter;
