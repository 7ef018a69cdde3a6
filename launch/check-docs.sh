#!/usr/bin/env bash
# The documentation checks CI runs on the library products (Package.swift's library products):
# every public symbol has a doc comment (launch/public_docs.py over the symbol graphs), and DocC
# builds each product target's documentation with warnings as errors. The archives land in
# .build/plugins/Swift-DocC/outputs/TARGET.doccarchive. Also makes the man page.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=$(swift package dump-package | python3 -c '
import json, sys
seen = []
for product in json.load(sys.stdin)["products"]:
    if "library" in product["type"]:
        seen += [t for t in product["targets"] if t not in seen]
print(" ".join(seen))')
[ -n "$targets" ] || { echo "check-docs.sh: Package.swift has no library product" >&2; exit 1; }
echo "library targets: $targets"
graphs=$(swift build --show-bin-path)/../symbolgraph
rm -rf "$graphs"
swift package dump-symbol-graph --skip-synthesized-members > /dev/null
python3 launch/public_docs.py "$graphs" $targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $targets; do
  if ! swift package generate-documentation --target "$target" --warnings-as-errors > "$log" 2>&1; then
    grep -v '^\[[0-9]*/[0-9]*\]' "$log" >&2
    echo "check-docs.sh: DocC failed for $target (warnings count as errors)" >&2
    exit 1
  fi
  echo "DocC: $target built without warnings"
done
# The man page argument-parser's plugin writes from the commands' help.
swift package plugin generate-manual --configuration debug > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
manual=$(swift build --show-bin-path)/../../plugins/GenerateManual/outputs/spectrain/spectrain.1
grep -q "spectrain config" "$manual" || { echo "check-docs.sh: $manual lacks the config command" >&2; exit 1; }
echo "documentation: every public symbol documented; DocC built $targets without warnings; man page $manual"
