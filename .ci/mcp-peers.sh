#!/usr/bin/env bash
# The MCP reference servers and the inspector (tools/mcp, pinned by its
# lock file), installed with npm ci for the MCP tests, then copied to
# BULWARK_MCP_PEERS (default /opt/bulwark-mcp-peers), readable by all: the
# sandbox reads a stdio server's files as an unprivileged user, through
# every folder above them, and a clone in a private folder (mktemp -d is
# 0700) or under /tmp (the sandbox has its own) cannot be seen from
# inside. The tests find the peers there (internal/mcptest).
set -euo pipefail
cd "$(dirname "$0")/../tools/mcp"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
dest="${BULWARK_MCP_PEERS:-/opt/bulwark-mcp-peers}"
rm -rf "$dest"
mkdir -p "$dest"
cp -a . "$dest/"
chmod -R a+rX "$dest"
d="$dest"
while [ "$d" != "/" ]; do chmod a+x "$d"; d=$(dirname "$d"); done
echo "MCP peers in $dest (export BULWARK_MCP_PEERS=$dest for the tests)"
