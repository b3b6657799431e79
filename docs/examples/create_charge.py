#!/usr/bin/python3
"""Charges a card exactly once from Python, with gRPC's own retries and no retry code here.

  create_charge.py TARGET API_KEY ORDER_ID [--stubs DIR] [--service-config FILE]

The two things that make retries safe:
  1. one idempotency key per logical charge, set once and sent unchanged on every attempt
     (gRPC re-sends the same metadata when it retries);
  2. the service config proto/payments/v1/service_config.json, given to the channel as
     "grpc.service_config": gRPC then retries UNAVAILABLE and ABORTED itself, with backoff.
A charge whose first answer was lost (connection dropped, server restarted) is then returned by
a retry instead of being made twice.

Message classes come from the proto (no gRPC plugin needed):
  buf build -o payments.binpb
  protoc --descriptor_set_in=payments.binpb --python_out=DIR payments/v1/payments.proto
With stubs made by grpc_tools (payments_pb2_grpc.PaymentServiceStub) the call is the same:
stub.CreateCharge.with_call(request, metadata=..., timeout=...).

Prints one JSON line: the charge, whether it was a replay, and the key; exits 1 on an RPC error
(printed to stderr with its code). Needs python3-grpcio and python3-protobuf (Debian) or the
grpcio and protobuf wheels.
"""

import argparse
import importlib
import json
import os
import secrets
import sys

import grpc

METHOD = "/payments.v1.PaymentService/CreateCharge"
DEFAULT_SERVICE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "payments", "v1", "service_config.json")
# Overall deadline of the call, all of gRPC's retries included (the service config's timeout is 60 s).
DEADLINE_SECONDS = 60


def main(argv):
    parser = argparse.ArgumentParser(description="Create one charge, retried safely by gRPC.")
    parser.add_argument("target", help="host:port of the payment service")
    parser.add_argument("api_key", help="merchant API key")
    parser.add_argument("order_id", help="your order reference, stored in the charge's metadata")
    parser.add_argument("--stubs", metavar="DIR", help="directory holding payments/v1/payments_pb2.py")
    parser.add_argument("--service-config", metavar="FILE", default=DEFAULT_SERVICE_CONFIG, help="gRPC service config (JSON)")
    args = parser.parse_args(argv)
    if args.stubs is not None:
        sys.path.insert(0, args.stubs)
    payments_pb2 = importlib.import_module("payments.v1.payments_pb2")

    with open(args.service_config, encoding="utf-8") as f:
        service_config = f.read()
    options = [("grpc.service_config", service_config), ("grpc.enable_retries", 1)]

    request = payments_pb2.CreateChargeRequest(
        amount=1500,  # minor units: 15.00
        currency="usd",
        payment_method="pm_card_visa",
        metadata={"order_id": args.order_id},
    )
    # One key per logical charge (192 random bits). Store it with the order if the charge may have
    # to be retried after this process ends: the same key and request replay the same charge.
    idempotency_key = secrets.token_urlsafe(24)
    metadata = (("authorization", f"Bearer {args.api_key}"), ("idempotency-key", idempotency_key))

    with grpc.insecure_channel(args.target, options=options) as channel:
        create_charge = channel.unary_unary(
            METHOD,
            request_serializer=payments_pb2.CreateChargeRequest.SerializeToString,
            response_deserializer=payments_pb2.Charge.FromString,
        )
        try:
            charge, call = create_charge.with_call(request, metadata=metadata, timeout=DEADLINE_SECONDS)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()} (idempotency key {idempotency_key})", file=sys.stderr)
            return 1
    headers = dict(call.initial_metadata() or ())
    print(json.dumps({
        "charge_id": charge.id,
        "status": payments_pb2.ChargeStatus.Name(charge.status),
        "provider_reference": charge.provider_reference,
        "replayed": headers.get("idempotent-replayed") == "true",
        "idempotency_key": idempotency_key,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
