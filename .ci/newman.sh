#!/usr/bin/env bash
# Runs the Agent Protocol v1 conformance suite (the protocol's own Postman
# collection, /work/shared/data/agent-protocol or $AP_SUITE_DIR) with
# newman against a real `bulwark serve`: built from this tree, on a free
# loopback port, with a temporary data folder and a replay model as the
# operator's default (so tasks finish without a model provider), and a
# tenant made with `bulwark tenants create`. newman comes from the
# committed lock file in tools/newman (npm ci). The collection is copied
# and rewritten: the base URL, bearer auth on every request, and its first
# request (to an outside echo service) left out. Besides the suite's own
# assertions, every answer must have been 2xx (a 401 would otherwise pass
# the requests without assertions).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
suite=${AP_SUITE_DIR:-/work/shared/data/agent-protocol}/agent_protocol_v1.json
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

echo "-- newman (npm ci in tools/newman)"
(cd tools/newman && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# The model: write the word, then finish.
cat >"$work/agent.jsonl" <<'JSONL'
{"content": "I will write the word to a .txt file.", "tool_calls": [{"name": "write_file", "arguments": {"path": "output.txt", "content": "Washington"}}]}
{"content": "Done.", "tool_calls": [{"name": "finish", "arguments": {"answer": "Wrote Washington to output.txt"}}]}
JSONL
echo "Washington" >"$work/test_output.txt" # the suite's upload

export BULWARK_DATA="$work/data" BULWARK_RATE_LIMIT=off
echo "-- serve"
"$work/bulwark" serve --addr 127.0.0.1:0 --model "replay:$work/agent.jsonl" 2>"$work/serve.log" &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/.*serving on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/serve.log" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; echo "bulwark serve stopped"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log"; echo "bulwark serve did not start"; exit 1; }
token=$("$work/bulwark" tenants create newman 2>/dev/null)

node - "$suite" "$work/suite.json" <<'JS'
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(src, 'utf8'));
const outside = (it) => JSON.stringify(it.request && it.request.url || '').includes('postman-echo.com');
const prune = (items) => items.filter((it) => !outside(it)).map((it) => (it.item ? { ...it, item: prune(it.item) } : it));
c.item = prune(c.item);
c.auth = { type: 'bearer', bearer: { token: '{{token}}' } };
fs.writeFileSync(dst, JSON.stringify(c));
JS

echo "-- run the suite against $url"
"$root/tools/newman/node_modules/.bin/newman" run "$work/suite.json" \
  --env-var "url=$url" --env-var "token=$token" --working-dir "$work" \
  --timeout-request 60000 --reporters cli,json --reporter-json-export "$work/report.json"

node - "$work/report.json" <<'JS'
const r = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
let bad = 0;
for (const e of r.run.executions) {
  const code = e.response ? e.response.code : 0;
  if (code < 200 || code > 299) { bad++; console.error(`unexpected answer ${code} to "${e.item.name}"`); }
}
if (r.run.executions.length === 0) { bad++; console.error('no request was made'); }
if (bad) process.exit(1);
console.log(`all ${r.run.executions.length} answers as expected`);
JS

kill -TERM "$pid"
wait "$pid"
pid=""
grep -q "stopped" "$work/serve.log" || { cat "$work/serve.log"; echo "serve did not stop cleanly"; exit 1; }
echo "-- Agent Protocol suite passed"
