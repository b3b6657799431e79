import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';

/**
 * Paths ("/pkg.Service/Method") of the methods declared
 * `option idempotency_level = NO_SIDE_EFFECTS;` in the descriptor set. The
 * proto is the only list of read-only methods; nothing is hand-maintained.
 */
export function readOnlyMethods(descriptorSet: Uint8Array): Set<string> {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
  const paths = new Set<string>();
  for (const file of set.file) {
    for (const service of file.service) {
      for (const method of service.method) {
        if (method.options?.idempotencyLevel === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) {
          paths.add(`/${file.package ? `${file.package}.` : ''}${service.name}/${method.name}`);
        }
      }
    }
  }
  return paths;
}
