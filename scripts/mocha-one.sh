#!/usr/bin/env bash
# Runs the given test files only (with the shared database root hooks): scripts/mocha-one.sh test/x.test.ts
exec npx mocha --no-config --require tsx/cjs --require test/setup/root-hooks.ts --timeout 60000 --exit "$@"
