#!/usr/bin/env bash
# Lighthouse (npm, v13) on /, /nearest, /lite and /map with mobile emulation (the default), against
# Debian's Chromium and a locally served app with the demo layer (25,470 facilities) and no tiles.
# Prints accessibility and performance (median of RUNS runs) per page.
#   bench/lighthouse.sh                # RUNS=3 PORT=5055 CHROME_PATH=/usr/bin/chromium
#   PAGES="/map /lite" bench/lighthouse.sh   # only some pages (space-separated paths)
# Lighthouse is installed under a temp dir (not in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-5055}" RUNS="${RUNS:-3}"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
PY="${PYTHON:-$(pwd)/.venv/bin/python}"
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund lighthouse@13 >/dev/null)
export LOCATOR_DATABASE_URL="sqlite:///$work/locator.sqlite3" LOCATOR_TILES=none
"$PY" -m flask --app app locator load-demo >/dev/null
"$PY" -m flask --app app run -p "$PORT" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 1; done

read -r -a pages <<<"${PAGES:-/ /nearest?lon=116.3376&lat=39.9925&kind=warm_station /lite?lon=116.3376&lat=39.9925&kind=warm_station /map}"
for page in "${pages[@]}"; do
  for i in $(seq 1 "$RUNS"); do
    "$work/node_modules/.bin/lighthouse" "http://127.0.0.1:$PORT$page" --quiet \
      --chrome-flags="--headless --no-sandbox --disable-gpu" \
      --only-categories=performance,accessibility \
      --output=json --output-path="$work/run-$i.json"
  done
  "$PY" - "$page" "$work" "$RUNS" <<'PYEOF'
import json, statistics, sys
page, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
scores = {"performance": [], "accessibility": []}
metrics = {"first-contentful-paint": [], "largest-contentful-paint": [], "total-blocking-time": [],
           "cumulative-layout-shift": [], "speed-index": [], "total-byte-weight": []}
for i in range(1, runs + 1):
    report = json.load(open(f"{work}/run-{i}.json"))
    cats = report["categories"]
    for k in scores:
        scores[k].append(round(cats[k]["score"] * 100))
    for k in metrics:
        metrics[k].append(report["audits"][k]["numericValue"])
print(f"{page:55s} accessibility {statistics.median(scores['accessibility']):5.0f}  "
      f"performance {statistics.median(scores['performance']):5.0f}  (runs: {scores})")
m = {k: statistics.median(v) for k, v in metrics.items()}
print(f"{'':55s} medians: FCP {m['first-contentful-paint']:.0f} ms, LCP {m['largest-contentful-paint']:.0f} ms, "
      f"TBT {m['total-blocking-time']:.0f} ms, CLS {m['cumulative-layout-shift']:.3f}, "
      f"Speed Index {m['speed-index']:.0f} ms, transfer {m['total-byte-weight'] / 1000:.0f} kB")
PYEOF
done
