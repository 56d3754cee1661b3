#!/usr/bin/env bash
# `sam local invoke` the function once per event in events/ (after `sam build`), and summarise each
# answer: status, then the verdict (label, P(fake)) or the error code. Exit 1 if an invoke fails or
# answers something that is not an API Gateway proxy response.
#   scripts/sam-invoke-events.sh [events/x.json ...]      (default: every events/*.json)
# Extra sam options via SAM_INVOKE_OPTS (e.g. "-t /tmp/build/template.yaml").
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
events=("$@")
[ ${#events[@]} -gt 0 ] || events=(events/*.json)
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sam-invoke.XXXXXX")
failed=0
for event in "${events[@]}"; do
    name=$(basename "$event" .json)
    # shellcheck disable=SC2086
    if ! scripts/sam.sh local invoke DetectFunction -e "$event" --skip-pull-image ${SAM_INVOKE_OPTS:-} \
            >"$LOGDIR/$name.out" 2>"$LOGDIR/$name.log"; then
        echo "$event: sam local invoke failed (log: $LOGDIR/$name.log)"; tail -n 5 "$LOGDIR/$name.log"
        failed=1; continue
    fi
    python3 - "$event" "$LOGDIR/$name.out" <<'PY' || failed=1
import json, sys
event, out = sys.argv[1], sys.argv[2]
lines = [l for l in open(out).read().splitlines() if l.strip().startswith("{")]
try:
    resp = json.loads(lines[-1]); body = json.loads(resp["body"]); status = resp["statusCode"]
except (IndexError, KeyError, ValueError, TypeError) as exc:
    print(f"{event}: not a proxy response ({type(exc).__name__}): {open(out).read()[:300]}"); sys.exit(1)
if "label" in body:
    detail = f"{body['label']} P(fake)={body['fake_probability']} ({body['image']['format']} {body['image']['width']}x{body['image']['height']})"
elif "error" in body:
    detail = f"{body['error'].get('code')}: {body['error'].get('message')}"
else:
    detail = ", ".join(f"{k}={body[k]}" for k in list(body)[:3])
print(f"{event}: {status} {detail}")
PY
done
echo "(sam logs: $LOGDIR)"
scripts/sam-prune-images.sh   # SAM re-builds its layer image per invoke; drop the stale copies
exit $failed
