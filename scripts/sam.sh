#!/usr/bin/env bash
# The project's SAM CLI (.venv-sam) with no outside calls: telemetry off, the weekly PyPI version check
# marked as done (lastVersionCheck in SAM's metadata.json), and no image pulls when the caller passes
# --skip-pull-image (samconfig.toml sets it for `sam local`). Arguments go to `sam` unchanged.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SAM=${SAM:-$HERE/.venv-sam/bin/sam}
[ -x "$SAM" ] || { echo "sam.sh: $SAM not found (make sam-venv)" >&2; exit 1; }
export SAM_CLI_TELEMETRY=0
# SAM keeps its settings in ~/.aws-sam/metadata.json (or $__SAM_CLI_APP_DIR): only lastVersionCheck is
# touched (at most once a day), so the check that would call PyPI is never due; the rest is kept.
"$(dirname "$SAM")/python" - <<'PY'
import json, os, time
from pathlib import Path
d = Path(os.environ.get("__SAM_CLI_APP_DIR") or Path.home() / ".aws-sam")
f = d / "metadata.json"
try:
    meta = json.loads(f.read_text())
except (OSError, ValueError):
    meta = {}
if time.time() - float(meta.get("lastVersionCheck") or 0) > 86400:
    meta["lastVersionCheck"] = time.time()
    d.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(meta, indent=4))
PY
exec "$SAM" "$@"
