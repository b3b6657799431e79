import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';

/**
 * The compiled proto (`buf build` output) that ships beside the generated code, in the source
 * tree (src/gen) and in the built package (dist/gen) alike.
 */
export const DESCRIPTOR_SET_PATH = path.join(__dirname, '..', 'gen', 'payments.binpb');

/**
 * Paths ("/pkg.Service/Method") of the methods that need an idempotency key: every method of the
 * descriptor set that is not declared `option idempotency_level = NO_SIDE_EFFECTS;`. This is the
 * server's rule, read from the same compiled proto, so client and server cannot disagree and no
 * list is kept by hand.
 */
export function keyedMethods(descriptorSet: Uint8Array): Set<string> {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
  const paths = new Set<string>();
  for (const file of set.file) {
    for (const service of file.service) {
      for (const method of service.method) {
        if (method.options?.idempotencyLevel !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) {
          paths.add(`/${file.package ? `${file.package}.` : ''}${service.name}/${method.name}`);
        }
      }
    }
  }
  return paths;
}

let cached: Set<string> | undefined;

/** keyedMethods of the shipped descriptor set, read once per process. */
export function shippedKeyedMethods(): Set<string> {
  cached ??= keyedMethods(readFileSync(DESCRIPTOR_SET_PATH));
  return cached;
}
