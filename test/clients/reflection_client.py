#!/usr/bin/python3
"""A strict gRPC server-reflection client, used by the tests to prove reflection is complete.

Needs only Debian's python3-grpcio and python3-protobuf (no grpcio-reflection, no protoc): the
reflection messages are built at run time from a FileDescriptorProto written out below.

Strict on purpose: `describe` and `call` add the files the server returns to a fresh
DescriptorPool, which rejects a file whose imports were not sent or whose type names do not
resolve, and the client never asks for missing imports by name.

  reflection_client.py [--v1alpha] TARGET list
  reflection_client.py [--v1alpha] TARGET describe [SERVICE ...]
  reflection_client.py [--v1alpha] TARGET files (--symbol NAME | --filename NAME)
  reflection_client.py [--v1alpha] TARGET call SERVICE/METHOD JSON [-H 'name: value' ...]

Exit status 0 on success; 1 with `ERROR <code name> <details>` on stderr when an RPC or a
reflection request fails; 2 for usage errors.
"""

import argparse
import hashlib
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

REFLECTION_METHODS = {
    "v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPE_NAMES = {
    _FDP.TYPE_DOUBLE: "double",
    _FDP.TYPE_FLOAT: "float",
    _FDP.TYPE_INT64: "int64",
    _FDP.TYPE_UINT64: "uint64",
    _FDP.TYPE_INT32: "int32",
    _FDP.TYPE_FIXED64: "fixed64",
    _FDP.TYPE_FIXED32: "fixed32",
    _FDP.TYPE_BOOL: "bool",
    _FDP.TYPE_STRING: "string",
    _FDP.TYPE_BYTES: "bytes",
    _FDP.TYPE_UINT32: "uint32",
    _FDP.TYPE_SFIXED32: "sfixed32",
    _FDP.TYPE_SFIXED64: "sfixed64",
    _FDP.TYPE_SINT32: "sint32",
    _FDP.TYPE_SINT64: "sint64",
}


class ClientError(Exception):
    """A failure reported as `ERROR <code name> <details>`."""

    def __init__(self, code_name, details):
        super().__init__(f"{code_name} {details}")
        self.code_name = code_name
        self.details = details


def message_class(descriptor):
    # GetMessageClass exists from protobuf 4.22 on; Debian 12 ships 4.21 (MessageFactory only).
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def _reflection_messages():
    """ServerReflectionRequest/Response classes (wire-identical in v1 and v1alpha)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="reflection_client/reflection.proto", package="grpc.reflection.v1", syntax="proto3"
    )

    def message(name, *fields, oneofs=()):
        msg = file.message_type.add(name=name)
        for oneof in oneofs:
            msg.oneof_decl.add(name=oneof)
        for field_name, number, field_type, extra in fields:
            field = msg.field.add(name=field_name, number=number, type=field_type, label=_FDP.LABEL_OPTIONAL)
            for key, value in extra.items():
                if key == "repeated":
                    field.label = _FDP.LABEL_REPEATED
                else:
                    setattr(field, key, value)

    def msg_type(name):
        return {"type_name": f".grpc.reflection.v1.{name}"}

    message(
        "ServerReflectionRequest",
        ("host", 1, _FDP.TYPE_STRING, {}),
        ("file_by_filename", 3, _FDP.TYPE_STRING, {"oneof_index": 0}),
        ("file_containing_symbol", 4, _FDP.TYPE_STRING, {"oneof_index": 0}),
        ("file_containing_extension", 5, _FDP.TYPE_MESSAGE, {"oneof_index": 0, **msg_type("ExtensionRequest")}),
        ("all_extension_numbers_of_type", 6, _FDP.TYPE_STRING, {"oneof_index": 0}),
        ("list_services", 7, _FDP.TYPE_STRING, {"oneof_index": 0}),
        oneofs=("message_request",),
    )
    message(
        "ExtensionRequest",
        ("containing_type", 1, _FDP.TYPE_STRING, {}),
        ("extension_number", 2, _FDP.TYPE_INT32, {}),
    )
    message(
        "ServerReflectionResponse",
        ("valid_host", 1, _FDP.TYPE_STRING, {}),
        ("original_request", 2, _FDP.TYPE_MESSAGE, msg_type("ServerReflectionRequest")),
        ("file_descriptor_response", 4, _FDP.TYPE_MESSAGE, {"oneof_index": 0, **msg_type("FileDescriptorResponse")}),
        (
            "all_extension_numbers_response",
            5,
            _FDP.TYPE_MESSAGE,
            {"oneof_index": 0, **msg_type("ExtensionNumberResponse")},
        ),
        ("list_services_response", 6, _FDP.TYPE_MESSAGE, {"oneof_index": 0, **msg_type("ListServiceResponse")}),
        ("error_response", 7, _FDP.TYPE_MESSAGE, {"oneof_index": 0, **msg_type("ErrorResponse")}),
        oneofs=("message_response",),
    )
    message("FileDescriptorResponse", ("file_descriptor_proto", 1, _FDP.TYPE_BYTES, {"repeated": True}))
    message(
        "ExtensionNumberResponse",
        ("base_type_name", 1, _FDP.TYPE_STRING, {}),
        ("extension_number", 2, _FDP.TYPE_INT32, {"repeated": True}),
    )
    message("ListServiceResponse", ("service", 1, _FDP.TYPE_MESSAGE, {"repeated": True, **msg_type("ServiceResponse")}))
    message("ServiceResponse", ("name", 1, _FDP.TYPE_STRING, {}))
    message("ErrorResponse", ("error_code", 1, _FDP.TYPE_INT32, {}), ("error_message", 2, _FDP.TYPE_STRING, {}))

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_class(pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest")),
        message_class(pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse")),
    )


ServerReflectionRequest, ServerReflectionResponse = _reflection_messages()


def status_code_name(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.name
    return str(number)


class Reflection:
    def __init__(self, channel, version, timeout):
        self._call = channel.stream_stream(
            REFLECTION_METHODS[version],
            request_serializer=ServerReflectionRequest.SerializeToString,
            response_deserializer=ServerReflectionResponse.FromString,
        )
        self._timeout = timeout

    def _ask(self, **request):
        responses = self._call(iter([ServerReflectionRequest(**request)]), timeout=self._timeout)
        response = next(responses, None)
        if response is None:
            raise ClientError("INTERNAL", "reflection stream ended without a response")
        kind = response.WhichOneof("message_response")
        if kind == "error_response":
            error = response.error_response
            raise ClientError(status_code_name(error.error_code), error.error_message)
        return response

    def list_services(self):
        return [service.name for service in self._ask(list_services="*").list_services_response.service]

    def files_containing_symbol(self, symbol):
        return self._files(self._ask(file_containing_symbol=symbol))

    def files_by_filename(self, filename):
        return self._files(self._ask(file_by_filename=filename))

    @staticmethod
    def _files(response):
        if response.WhichOneof("message_response") != "file_descriptor_response":
            raise ClientError("INTERNAL", "reflection answered without a file_descriptor_response")
        return list(response.file_descriptor_response.file_descriptor_proto)


def build_pool(serialized_files):
    """A fresh pool holding exactly the files the server sent, each added after its imports."""
    files = {}
    for data in serialized_files:
        file = descriptor_pb2.FileDescriptorProto.FromString(data)
        files.setdefault(file.name, file)
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, imported_by):
        if name in added:
            return
        if name not in files:
            raise ClientError("NOT_FOUND", f"server did not send {name}, imported by {imported_by}")
        added.add(name)
        for dependency in files[name].dependency:
            add(dependency, name)
        try:
            pool.Add(files[name])  # strict: rejects any reference it cannot resolve
        except (TypeError, ValueError) as error:
            raise ClientError("FAILED_PRECONDITION", f"descriptor pool rejected {name}: {error}") from error

    for name in files:
        add(name, name)
    return pool, list(files.values())


def find_service(pool, name):
    try:
        return pool.FindServiceByName(name)
    except KeyError:
        raise ClientError("NOT_FOUND", f"{name} is not a service in the files the server sent") from None


def type_label(field):
    if field.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_GROUP):
        name = "." + field.message_type.full_name
    elif field.type == _FDP.TYPE_ENUM:
        name = "." + field.enum_type.full_name
    else:
        name = _SCALAR_TYPE_NAMES[field.type]
    return ("repeated " if field.label == _FDP.LABEL_REPEATED else "") + name


def describe_lines(pool, files, services):
    lines = []
    for service_name in services:
        service = find_service(pool, service_name)
        lines.append(f"service {service.full_name}")
        for method in service.methods:
            lines.append(
                f"  rpc {method.name}(.{method.input_type.full_name}) returns (.{method.output_type.full_name})"
            )

    def message_lines(descriptor):
        lines.append(f"message {descriptor.full_name}")
        for field in descriptor.fields:
            lines.append(f"  {type_label(field)} {field.name} = {field.number}")
        for nested in descriptor.nested_types:
            message_lines(nested)

    for file in files:
        prefix = f"{file.package}." if file.package else ""
        for message in file.message_type:
            # Resolved through the pool, so every field type shown is one the pool linked.
            message_lines(pool.FindMessageTypeByName(prefix + message.name))
    return lines


def parse_header(text):
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'name: value', got {text!r}")
    # gRPC metadata keys are case-insensitive and grpcio only accepts lower case.
    return name.strip().lower(), value.strip()


def run(args):
    version = "v1alpha" if args.v1alpha else "v1"
    with grpc.insecure_channel(args.target) as channel:
        reflection = Reflection(channel, version, args.timeout)
        if args.command == "list":
            for name in reflection.list_services():
                print(name)
            return 0

        if args.command == "files":
            if args.symbol is not None:
                serialized = reflection.files_containing_symbol(args.symbol)
            else:
                serialized = reflection.files_by_filename(args.filename)
            for data in serialized:
                file = descriptor_pb2.FileDescriptorProto.FromString(data)
                digest = hashlib.sha256(data).hexdigest()
                print(json.dumps({"name": file.name, "dependency": list(file.dependency), "sha256": digest}))
            return 0

        if args.command == "describe":
            services = args.services or reflection.list_services()
            for service in services:
                pool, files = build_pool(reflection.files_containing_symbol(service))
                for line in describe_lines(pool, files, [service]):
                    print(line)
            return 0

        # call
        service_name, sep, method_name = args.method.rpartition("/")
        if not sep or not service_name or not method_name:
            raise ClientError("INVALID_ARGUMENT", f"expected SERVICE/METHOD, got {args.method!r}")
        pool, _ = build_pool(reflection.files_containing_symbol(service_name))
        method = find_service(pool, service_name).methods_by_name.get(method_name)
        if method is None:
            raise ClientError("NOT_FOUND", f"method {method_name} not found in {service_name}")
        request = json_format.Parse(args.json, message_class(method.input_type)(), descriptor_pool=pool)
        unary = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=message_class(method.output_type).FromString,
        )
        try:
            response = unary(request, metadata=args.header, timeout=args.timeout)
        except grpc.RpcError as error:
            print_status_details(reflection, error)
            raise
        print(json_format.MessageToJson(response, preserving_proto_field_name=True, descriptor_pool=pool))
        return 0


def print_status_details(reflection, error):
    """Decodes `grpc-status-details-bin` as grpcurl does: every type is described by reflection.

    Prints `DETAILS <type> <json>` on stderr for each detail of the google.rpc.Status.
    """
    raw = next((value for key, value in (error.trailing_metadata() or ()) if key == "grpc-status-details-bin"), None)
    if raw is None:
        return
    served = list(reflection.files_containing_symbol("google.rpc.Status"))
    pool, _ = build_pool(served)
    status = message_class(pool.FindMessageTypeByName("google.rpc.Status")).FromString(raw)
    for detail in status.details:
        type_name = detail.type_url.rpartition("/")[2]
        served += reflection.files_containing_symbol(type_name)
        pool, _ = build_pool(served)
        value = message_class(pool.FindMessageTypeByName(type_name)).FromString(detail.value)
        text = json_format.MessageToJson(value, preserving_proto_field_name=True, descriptor_pool=pool, indent=None, sort_keys=True)
        print(f"DETAILS {type_name} {text}", file=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(description="Strict gRPC server-reflection client.")
    parser.add_argument("target", help="host:port of the server")
    parser.add_argument("--v1alpha", action="store_true", help="use grpc.reflection.v1alpha instead of v1")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each RPC in seconds")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the services")
    describe = commands.add_parser("describe", help="describe services with their methods and messages")
    describe.add_argument("services", nargs="*", help="services to describe (default: all listed)")
    files = commands.add_parser("files", help="print name, dependencies and sha256 of each file sent")
    which = files.add_mutually_exclusive_group(required=True)
    which.add_argument("--symbol", help="file_containing_symbol")
    which.add_argument("--filename", help="file_by_filename")
    call = commands.add_parser("call", help="call a unary method with a JSON request")
    call.add_argument("method", help="SERVICE/METHOD, e.g. payments.v1.PaymentService/CreateCharge")
    call.add_argument("json", help="the request as proto JSON")
    call.add_argument(
        "-H", "--header", type=parse_header, action="append", default=[], help="metadata 'name: value' (repeatable)"
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except grpc.RpcError as error:
        print(f"ERROR {error.code().name} {error.details()}", file=sys.stderr)
        return 1
    except ClientError as error:
        print(f"ERROR {error.code_name} {error.details}", file=sys.stderr)
        return 1
    except json_format.ParseError as error:
        print(f"ERROR INVALID_ARGUMENT {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
