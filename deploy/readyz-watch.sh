#!/usr/bin/env bash
# Keep an nginx upstream file in step with each node's /readyz (see
# systemd/locator-readyz.service); include that file in the upstream block instead of the
# static server lines when you use it. Open-source nginx's own health checks are passive.
#
# Usage: readyz-watch.sh HOST:PORT [HOST:PORT ...]
#
# A node whose /readyz does not answer 200 within 2 s is written "down"; when no node is
# ready, every node stays in rotation (fail open: nginx's passive checks and the nodes'
# own 503s then answer, instead of nginx refusing everyone). The file is rewritten, and
# nginx reloaded, only when it changes.
#
# Environment:
#   LOCATOR_UPSTREAM_FILE    the generated file (default /etc/nginx/locator-upstream.conf)
#   LOCATOR_NGINX_RELOAD     the reload command (default "nginx -s reload")
#   LOCATOR_READYZ_INTERVAL  seconds between passes (default 5)
#   LOCATOR_READYZ_ONCE=1    one pass, then exit (for cron and tests)
set -uo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 HOST:PORT [HOST:PORT ...]" >&2
  exit 2
fi
out=${LOCATOR_UPSTREAM_FILE:-/etc/nginx/locator-upstream.conf}
reload=${LOCATOR_NGINX_RELOAD:-nginx -s reload}
interval=${LOCATOR_READYZ_INTERVAL:-5}
up="max_fails=2 fail_timeout=5s"
while true; do
  conf=""
  ready=0
  for node in "$@"; do
    if curl -fs -m 2 -o /dev/null "http://$node/readyz"; then
      conf+="server $node $up;"$'\n'
      ready=$((ready + 1))
    else
      conf+="server $node down;"$'\n'
    fi
  done
  if [ "$ready" -eq 0 ]; then
    conf=""
    for node in "$@"; do conf+="server $node $up;"$'\n'; done
  fi
  if [ ! -f "$out" ] || [ "$conf" != "$(cat "$out")"$'\n' ]; then
    if printf '%s' "$conf" > "$out.tmp" && mv "$out.tmp" "$out"; then
      bash -c "$reload" || echo "readyz-watch: '$reload' failed" >&2
    else
      echo "readyz-watch: cannot write $out" >&2
    fi
  fi
  [ "${LOCATOR_READYZ_ONCE:-}" = 1 ] && exit 0
  sleep "$interval"
done
