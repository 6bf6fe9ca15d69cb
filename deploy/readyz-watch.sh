#!/usr/bin/env bash
# Keep /etc/nginx/locator-upstream.conf in step with each node's /readyz (see
# systemd/locator-readyz.service); include that file in the upstream block instead of
# the static server lines when you use it.
set -euo pipefail
out=/etc/nginx/locator-upstream.conf
while true; do
  conf=""
  for node in "$@"; do
    if curl -fsS -m 2 -o /dev/null "http://$node/readyz"; then
      conf+="server $node max_fails=2 fail_timeout=5s;"$'\n'
    else
      conf+="server $node down;"$'\n'
    fi
  done
  if [ ! -f "$out" ] || [ "$conf" != "$(cat "$out")"$'\n' ]; then
    printf '%s' "$conf" > "$out.tmp" && mv "$out.tmp" "$out" && nginx -s reload
  fi
  sleep 5
done
