import { randomUUID } from 'node:crypto';

/** 122 random bits; randomUUID draws from a cached entropy pool, so ids cost no system call each. */
export function newId(prefix: string): string {
  return prefix + randomUUID().replace(/-/g, '');
}
