#!/usr/bin/env bash
# Runs the browser tests: starts `invigilator demo` (its own database, reset on start), waits
# until it says it is ready, runs the tests against it with Debian's Chromium, then stops it.
# Expects PostgreSQL and Redis running and the binary built (`cargo build --bin invigilator`).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
binary="${INVIGILATOR_BIN:-$root/target/debug/invigilator}"
export PORT="${E2E_PORT:-18080}" DEMO_GOOGLE_PORT="${E2E_GOOGLE_PORT:-18090}"
export BASE_URL="http://localhost:$PORT" GOOGLE_URL="http://127.0.0.1:$DEMO_GOOGLE_PORT"
[ -d node_modules ] || npm ci --no-audit --no-fund
"$binary" demo >demo.log 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q "demo ready" demo.log && break
  kill -0 "$demo" 2>/dev/null || { cat demo.log; echo "the demo stopped before it was ready" >&2; exit 1; }
  sleep 1
done
grep -q "demo ready" demo.log || { cat demo.log; echo "the demo was not ready in 300 s" >&2; exit 1; }
status=0
npm test || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the demo's log ---"; tail -n 80 demo.log
fi
exit "$status"
