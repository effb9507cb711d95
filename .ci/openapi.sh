#!/usr/bin/env bash
# Validates the API reference as OpenAPI 3.1: GET /api/v1/openapi.json from
# a real `bulwark serve` (built from this tree, on a free loopback port,
# with a temporary data folder), checked by swagger-parser (the official
# OpenAPI 3.1 JSON Schema, and every $ref) from the committed lock file in
# tools/openapi (npm ci). The Go tests (server/openapi_test.go) check the
# rest: every route is in the document, path parameters, schemas against
# the handlers. Without node and npm (or the registry) it says so and
# skips, except in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "openapi: node and npm are needed in CI"; exit 1
  fi
  echo "openapi: skipped: node and npm are not installed (install them to validate the API document)"
  exit 0
fi
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- build"
CGO_ENABLED=0 go build -o "$work/bulwark" ./cmd/bulwark

echo "-- swagger-parser (npm ci in tools/openapi)"
if ! (cd tools/openapi && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
  if [ "${CI:-}" = "true" ]; then
    echo "openapi: npm ci failed"; exit 1
  fi
  echo "openapi: skipped: npm ci in tools/openapi failed (offline?); CI runs it"
  exit 0
fi

echo "-- serve"
BULWARK_DATA="$work/data" "$work/bulwark" serve --addr 127.0.0.1:0 2>"$work/serve.log" &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/.*serving on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/serve.log" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; echo "bulwark serve stopped"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log"; echo "bulwark serve did not start"; exit 1; }

echo "-- validate $url/api/v1/openapi.json"
(cd "$root/tools/openapi" && node - "$url/api/v1/openapi.json" "$work/openapi.json" <<'JS'
const fs = require('fs');
const SwaggerParser = require('@apidevtools/swagger-parser');
const [url, file] = process.argv.slice(2);
(async () => {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} = ${res.status}`);
  fs.writeFileSync(file, await res.text());
  const api = await SwaggerParser.validate(file);
  if (!String(api.openapi).startsWith('3.1.')) throw new Error(`openapi is ${api.openapi}, want 3.1.x`);
  let ops = 0;
  for (const item of Object.values(api.paths)) ops += Object.keys(item).length;
  console.log(`valid OpenAPI ${api.openapi}: ${Object.keys(api.paths).length} paths, ${ops} operations`);
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
)
echo "-- API document valid"
