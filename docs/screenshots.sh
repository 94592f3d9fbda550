#!/usr/bin/env bash
# Renders what canary-gate posts to GitHub and takes screenshots of it in headless Chromium:
#   docs/job-summary.png  the job summary of `canary-gate demo` (a promotion and a rollback)
#   docs/check-run.png    the rolled-back canary's check run: title, summary, annotations
# The demo runs with a local stand-in for the GitHub API (it records the Checks API bodies), so
# the pictures show exactly the Markdown canary-gate sends. Needs: cargo, python3, npm, and
# Debian's chromium. Markdown is rendered by cmark-gfm (PyPI cmarkgfm, GitHub's own renderer)
# with the github-markdown-css stylesheet (npm).
#   docs/screenshots.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'if [ -n "${mock_pid:-}" ]; then kill "$mock_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

cargo build --quiet --manifest-path "$root/Cargo.toml" --bins
bin="$root/target/debug/canary-gate"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check cmarkgfm==2024.11.20
npm install --silent --prefix "$work/npm" github-markdown-css@5.8.1 >/dev/null
css="$work/npm/node_modules/github-markdown-css/github-markdown-light.css"

# A stand-in for the Checks API: 201/200 with an id, every body saved in order.
mkdir -p "$work/bodies"
cat > "$work/mock.py" <<'PY'
import http.server, json, sys, itertools
out = sys.argv[1]
n = itertools.count()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self): self.answer(201)
    def do_PATCH(self): self.answer(200)
    def answer(self, code):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(f"{out}/{next(n):04d}.json", "wb") as f:
            f.write(body)
        reply = json.dumps({"id": 7, "html_url": "https://github.com/acme/shop/runs/7"}).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$work/mock.py" "$work/bodies" > "$work/port" &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

export GITHUB_ACTIONS=true GITHUB_REPOSITORY=acme/shop GITHUB_SHA=4f1c2d9e GITHUB_RUN_ID=1234
export GITHUB_SERVER_URL=https://github.com GITHUB_API_URL="http://127.0.0.1:$port"
export GITHUB_STEP_SUMMARY="$work/summary.md" GITHUB_OUTPUT="$work/output.txt"
export GITHUB_WORKSPACE="$work"
(cd "$work" && env "INPUT_GITHUB-TOKEN=token-for-the-stand-in" "$bin" demo >"$work/demo.log" 2>&1) ||
  { tail -20 "$work/demo.log"; exit 1; }

# The last completion body is the rolled-back canary's.
last="$(grep -l '"conclusion"' "$work"/bodies/*.json | tail -1)"

render() { # markdown-file title html-file
  "$work/venv/bin/python" - "$1" "$2" "$css" > "$3" <<'PY'
import cmarkgfm, sys, html
from cmarkgfm.cmark import Options
md, title, css = open(sys.argv[1]).read(), sys.argv[2], open(sys.argv[3]).read()
body = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
print(f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{css} body{{background:#fff;margin:0}} .markdown-body{{box-sizing:border-box;max-width:1012px;margin:0 auto;padding:32px}}
.frame{{border:1px solid #d0d7de;border-radius:6px;padding:16px 24px}} .bar{{font:600 14px -apple-system,Segoe UI,sans-serif;color:#57606a;margin-bottom:8px}}</style>
<div class="markdown-body"><div class="bar">{html.escape(title)}</div><div class="frame">{body}</div></div>""")
PY
}

python3 - "$last" > "$work/check-run.md" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
o = b["output"]
icon = {"failure": "❌", "success": "✅"}.get(b.get("conclusion"), "•")
print(f"## {icon} canary-gate: test/podinfo — {o['title']}\n")
print(o["summary"])
print("\n#### Annotations\n")
for a in o.get("annotations", []):
    print(f"- **{a['annotation_level']}** `{a['path']}#L{a['start_line']}` — {a['title']}: {a['message']}")
PY
render "$work/summary.md" "Job summary — canary-gate demo" "$work/job-summary.html"
render "$work/check-run.md" "Checks — canary-gate: test/podinfo" "$work/check-run.html"

shot() { # html png height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome" --hide-scrollbars --window-size=1100,"$3" \
    --screenshot="$2" "file://$1" >/dev/null 2>&1
}
shot "$work/job-summary.html" "$root/docs/job-summary.png" 1340
shot "$work/check-run.html" "$root/docs/check-run.png" 1010
echo "wrote docs/job-summary.png and docs/check-run.png"
