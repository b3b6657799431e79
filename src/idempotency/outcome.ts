import { status as Code } from '@grpc/grpc-js';

/**
 * Status codes that are a definitive answer to the request itself: running it
 * again with the same payload would give the same answer, so the outcome is
 * stored and replayed. Every other code (UNAVAILABLE, INTERNAL, DEADLINE_
 * EXCEEDED, ...) says nothing about the request, so it is never cached.
 */
const DEFINITIVE = new Set<number>([Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION, Code.OUT_OF_RANGE, Code.ALREADY_EXISTS]);

export function isDefinitive(code: number): boolean {
  return DEFINITIVE.has(code);
}
