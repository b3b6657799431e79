/**
 * gRPC server reflection (`grpc.reflection.v1` and `grpc.reflection.v1alpha`) answered from the
 * original FileDescriptorProto bytes of a `buf build` image (or a FileDescriptorSet with imports).
 *
 * Why not `@grpc/reflection`'s ReflectionService: with proto-loader's package definitions
 * (loadSync and loadFileDescriptorSetFromBuffer both rebuild files from a protobufjs Root) it
 * serves empty dependency lists and undotted type names (grpc-node #3034, #3018). Even fed the
 * image's own bytes it re-encodes them, and it sends along only the files whose *types* a file
 * references rather than its `dependency` list, so an import used only for custom options
 * (google/api/annotations.proto, buf/validate/validate.proto) is never sent and strict clients
 * (Python descriptor pools) reject the file. The correct answer needs only a small index, so we
 * keep just the library's reflection protos.
 */
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Field number of `FileDescriptorSet.file`. */
const FILE_DESCRIPTOR_SET_FILE = 1;
/** Field number of buf's `ImageFile.buf_extension` (an unknown field on FileDescriptorProto). */
const BUF_IMAGE_FILE_EXTENSION = 8042;
/** Field number of `ImageFileExtension.is_import`. */
const BUF_IMAGE_FILE_EXTENSION_IS_IMPORT = 1;

const REFLECTION_VERSIONS = ['v1', 'v1alpha'] as const;
type ReflectionVersion = (typeof REFLECTION_VERSIONS)[number];

/**
 * Most requests one reflection stream may send. A client describing a whole schema sends one
 * request per file or symbol (a few dozen for this service); past this the stream ends with
 * RESOURCE_EXHAUSTED and the client may open another. Reflection needs no API key (tools call
 * it before they have one), so the work one stream can ask for must be bounded.
 */
export const MAX_REFLECTION_REQUESTS_PER_STREAM = 1_000;

/** Counters of the reflection streams of one server (for metrics and tests). */
export interface ReflectionStats {
  /** Requests read from all streams so far. */
  requestsRead: number;
  /** The most responses one stream ever held unsent (bounded by the stream's high-water mark). */
  maxQueuedResponses: number;
  /** Times a stream stopped reading because its client did not read its answers. */
  pauses: number;
  /** Streams ended with RESOURCE_EXHAUSTED for sending too many requests. */
  exhaustedStreams: number;
}

/**
 * Registers `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`
 * on `server`, answering from `descriptorSet` (a serialized FileDescriptorSet or buf image that
 * contains every imported file). Lists the services of the set's non-import files.
 *
 * Throws at once if the set is malformed or lacks an imported file, so a bad image fails at
 * startup rather than on the first reflection request.
 */
export function addReflection(server: grpc.Server, descriptorSet: Uint8Array, maxRequestsPerStream = MAX_REFLECTION_REQUESTS_PER_STREAM): ReflectionStats {
  const index = new DescriptorIndex(descriptorSet);
  const stats: ReflectionStats = { requestsRead: 0, maxQueuedResponses: 0, pauses: 0, exhaustedStreams: 0 };
  for (const version of REFLECTION_VERSIONS) {
    server.addService(reflectionServiceDefinition(version), {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, ReflectionResponse>) => serveStream(call, index, stats, maxRequestsPerStream),
    });
  }
  return stats;
}

/**
 * Answers one stream's requests in order, reading the next request only while the client keeps
 * up with the answers: when `write` reports a full buffer (the stream's high-water mark, 16
 * responses) the stream stops reading until 'drain'. grpc-js reads requests on demand, so a
 * paused stream stops taking requests off the connection, HTTP/2 flow control stops the client's
 * sending, and what the server holds for a client that never reads stays bounded.
 */
function serveStream(
  call: grpc.ServerDuplexStream<ReflectionRequest, ReflectionResponse>,
  index: DescriptorIndex,
  stats: ReflectionStats,
  maxRequests: number,
): void {
  let requests = 0;
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    call.end();
  };
  call.on('data', (request: ReflectionRequest) => {
    if (ended) return;
    stats.requestsRead++;
    requests++;
    if (requests > maxRequests) {
      stats.exhaustedStreams++;
      ended = true;
      call.pause();
      // grpc-js's own 'error' listener turns this into the stream's status, sent after the
      // answers already written.
      call.emit('error', {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `at most ${maxRequests} reflection requests per stream; open a new stream for more`,
      });
      return;
    }
    const roomForMore = call.write(respond(index, request));
    stats.maxQueuedResponses = Math.max(stats.maxQueuedResponses, call.writableLength);
    if (!roomForMore) {
      stats.pauses++;
      call.pause();
      call.once('drain', () => call.resume());
    }
  });
  call.on('end', end);
  // A cancelled stream (client gone) needs nothing more from us; grpc-js drops what is queued.
  call.on('cancelled', () => {
    ended = true;
  });
}

/** A reflection request as proto-loader decodes it (`keepCase`, `oneofs`). */
interface ReflectionRequest {
  host?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
  message_request?: string;
}

type ReflectionAnswer =
  | { file_descriptor_response: { file_descriptor_proto: Uint8Array[] } }
  | { all_extension_numbers_response: { base_type_name: string; extension_number: number[] } }
  | { list_services_response: { service: { name: string }[] } }
  | { error_response: { error_code: number; error_message: string } };

type ReflectionResponse = { valid_host: string; original_request: ReflectionRequest } & ReflectionAnswer;

function respond(index: DescriptorIndex, request: ReflectionRequest): ReflectionResponse {
  let answer: ReflectionAnswer;
  try {
    answer = index.answer(request);
  } catch {
    // answer() does not throw on any input; this only keeps a bug from escaping into grpc-js's
    // stream event handler, where a synchronous throw would take the process down.
    answer = errorAnswer(grpc.status.INTERNAL, 'internal error');
  }
  return { valid_host: request.host ?? '', original_request: request, ...answer };
}

function errorAnswer(code: grpc.status, message: string): ReflectionAnswer {
  return { error_response: { error_code: code, error_message: message } };
}

interface ParsedFile {
  readonly proto: FileDescriptorProto;
  /** The file's bytes exactly as they appear in the descriptor set. */
  readonly bytes: Uint8Array;
  readonly isImport: boolean;
}

interface IndexedFile {
  readonly proto: FileDescriptorProto;
  /** The file's original bytes first, then its transitive imports', each after its own imports. */
  readonly withDependencies: Uint8Array[];
}

class DescriptorIndex {
  private readonly files = new Map<string, IndexedFile>();
  /** Fully-qualified symbol name (no leading dot) → declaring file. */
  private readonly symbols = new Map<string, IndexedFile>();
  /** Names of the messages declared in the set (no leading dot). */
  private readonly messages = new Set<string>();
  /** Extended message (no leading dot) → extension field number → declaring file. */
  private readonly extensions = new Map<string, Map<number, IndexedFile>>();
  private readonly services: string[] = [];

  constructor(descriptorSet: Uint8Array) {
    const parsed = new Map<string, ParsedFile>();
    const fileBytes = splitDescriptorSet(descriptorSet);
    if (fileBytes.length === 0) {
      throw new Error('descriptor set contains no files');
    }
    for (const bytes of fileBytes) {
      const proto = fromBinary(FileDescriptorProtoSchema, bytes);
      if (parsed.has(proto.name)) {
        throw new Error(`descriptor set contains ${proto.name} twice`);
      }
      parsed.set(proto.name, { proto, bytes, isImport: isBufImageImport(bytes) });
    }
    for (const entry of parsed.values()) {
      const dependencies = dependencyClosure(entry, parsed).filter((dependency) => dependency !== entry);
      const file: IndexedFile = {
        proto: entry.proto,
        withDependencies: [entry.bytes, ...dependencies.map((dependency) => dependency.bytes)],
      };
      this.files.set(entry.proto.name, file);
      this.indexFile(file, entry.isImport);
    }
  }

  answer(request: ReflectionRequest): ReflectionAnswer {
    switch (request.message_request) {
      case 'file_by_filename':
        return this.fileAnswer(this.files.get(request.file_by_filename ?? ''), `file ${request.file_by_filename}`);
      case 'file_containing_symbol': {
        const symbol = stripDot(request.file_containing_symbol ?? '');
        return this.fileAnswer(this.symbols.get(symbol), `symbol ${symbol}`);
      }
      case 'file_containing_extension': {
        const extendee = stripDot(request.file_containing_extension?.containing_type ?? '');
        const number = request.file_containing_extension?.extension_number ?? 0;
        return this.fileAnswer(this.extensions.get(extendee)?.get(number), `extension ${number} of ${extendee}`);
      }
      case 'all_extension_numbers_of_type': {
        const type = stripDot(request.all_extension_numbers_of_type ?? '');
        if (!this.messages.has(type)) {
          return errorAnswer(grpc.status.NOT_FOUND, `message type ${type} not found`);
        }
        const numbers = [...(this.extensions.get(type)?.keys() ?? [])];
        return { all_extension_numbers_response: { base_type_name: type, extension_number: numbers } };
      }
      case 'list_services':
        return { list_services_response: { service: this.services.map((name) => ({ name })) } };
      default:
        return errorAnswer(
          grpc.status.UNIMPLEMENTED,
          request.message_request === undefined ? 'empty reflection request' : `unsupported reflection request ${request.message_request}`,
        );
    }
  }

  private fileAnswer(file: IndexedFile | undefined, what: string): ReflectionAnswer {
    if (file === undefined) {
      return errorAnswer(grpc.status.NOT_FOUND, `${what} not found`);
    }
    return { file_descriptor_response: { file_descriptor_proto: file.withDependencies } };
  }

  private indexFile(file: IndexedFile, isImport: boolean): void {
    const { proto } = file;
    const scope = proto.package === '' ? '' : `${proto.package}.`;
    for (const message of proto.messageType) this.indexMessage(file, scope, message);
    for (const enumType of proto.enumType) this.indexEnum(file, scope, enumType);
    for (const extension of proto.extension) this.indexExtension(file, scope, extension);
    for (const service of proto.service) {
      const name = `${scope}${service.name}`;
      this.addSymbol(name, file);
      for (const method of service.method) this.addSymbol(`${name}.${method.name}`, file);
      if (!isImport) this.services.push(name);
    }
  }

  private indexMessage(file: IndexedFile, scope: string, message: DescriptorProto): void {
    const name = `${scope}${message.name}`;
    this.addSymbol(name, file);
    this.messages.add(name);
    for (const field of message.field) this.addSymbol(`${name}.${field.name}`, file);
    for (const oneof of message.oneofDecl) this.addSymbol(`${name}.${oneof.name}`, file);
    for (const nested of message.nestedType) this.indexMessage(file, `${name}.`, nested);
    for (const enumType of message.enumType) this.indexEnum(file, `${name}.`, enumType);
    for (const extension of message.extension) this.indexExtension(file, `${name}.`, extension);
  }

  private indexEnum(file: IndexedFile, scope: string, enumType: EnumDescriptorProto): void {
    this.addSymbol(`${scope}${enumType.name}`, file);
    // Enum values are siblings of their enum in protobuf's name scoping (C++ semantics).
    for (const value of enumType.value) this.addSymbol(`${scope}${value.name}`, file);
  }

  private indexExtension(file: IndexedFile, scope: string, extension: FieldDescriptorProto): void {
    this.addSymbol(`${scope}${extension.name}`, file);
    const extendee = stripDot(extension.extendee);
    const byNumber = this.extensions.get(extendee) ?? new Map<number, IndexedFile>();
    byNumber.set(extension.number, file);
    this.extensions.set(extendee, byNumber);
  }

  private addSymbol(name: string, file: IndexedFile): void {
    const existing = this.symbols.get(name);
    if (existing !== undefined && existing !== file) {
      throw new Error(`symbol ${name} is declared in both ${existing.proto.name} and ${file.proto.name}`);
    }
    this.symbols.set(name, file);
  }
}

/** `file`'s transitive imports, each after its own imports, ending with `file` itself. */
function dependencyClosure(file: ParsedFile, files: ReadonlyMap<string, ParsedFile>): ParsedFile[] {
  const ordered: ParsedFile[] = [];
  const visited = new Set<ParsedFile>();
  const visit = (current: ParsedFile): void => {
    if (visited.has(current)) return;
    visited.add(current);
    for (const name of current.proto.dependency) {
      const dependency = files.get(name);
      if (dependency === undefined) {
        throw new Error(`descriptor set lacks ${name}, imported by ${current.proto.name}; build it with its imports (buf build, or protoc --include_imports)`);
      }
      visit(dependency);
    }
    ordered.push(current);
  };
  visit(file);
  return ordered;
}

/** The `file` entries of a serialized FileDescriptorSet, as subarrays of the original bytes. */
function splitDescriptorSet(descriptorSet: Uint8Array): Uint8Array[] {
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(descriptorSet);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === FILE_DESCRIPTOR_SET_FILE && wireType === WireType.LengthDelimited) {
      files.push(reader.bytes());
    } else {
      reader.skip(wireType, fieldNo);
    }
  }
  return files;
}

/** Whether buf marked the file as an import (absent in plain FileDescriptorSets: not an import). */
function isBufImageImport(fileBytes: Uint8Array): boolean {
  const reader = new BinaryReader(fileBytes);
  let isImport = false;
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo !== BUF_IMAGE_FILE_EXTENSION || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, fieldNo);
      continue;
    }
    const extension = new BinaryReader(reader.bytes());
    while (extension.pos < extension.len) {
      const [extFieldNo, extWireType] = extension.tag();
      if (extFieldNo === BUF_IMAGE_FILE_EXTENSION_IS_IMPORT && extWireType === WireType.Varint) {
        isImport = extension.bool();
      } else {
        extension.skip(extWireType, extFieldNo);
      }
    }
  }
  return isImport;
}

function stripDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}

/** The ServerReflection service definition, from the reflection protos `@grpc/reflection` ships. */
function reflectionServiceDefinition(version: ReflectionVersion): grpc.ServiceDefinition {
  const protoRoot = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  const protoFile = path.join(protoRoot, 'grpc', 'reflection', version, 'reflection.proto');
  const packageDefinition = protoLoader.loadSync(protoFile, { keepCase: true, oneofs: true });
  const serviceName = `grpc.reflection.${version}.ServerReflection`;
  const definition = packageDefinition[serviceName];
  if (definition === undefined || 'format' in definition) {
    throw new Error(`${serviceName} not found in ${protoRoot}`);
  }
  return definition;
}
