"""Lists the public symbols of the library products that have no doc comment.

Usage: python3 launch/public_docs.py SYMBOLGRAPH_DIR MODULE...  (launch/check-docs.sh runs it)

Reads the symbol graphs `swift package dump-symbol-graph` wrote (MODULE.symbols.json and the
MODULE@Other.symbols.json of its extensions). A member that implements a documented protocol
requirement inherits its comment in the graph, so it counts as documented. Exits 1 when a symbol
has none, printing each as `file:line: kind Name.path`.
"""
import glob
import json
import os
import sys


def undocumented(directory, module):
    paths = glob.glob(os.path.join(directory, f"{module}.symbols.json"))
    paths += glob.glob(os.path.join(directory, f"{module}@*.symbols.json"))
    if not paths:
        sys.exit(f"public_docs.py: no symbol graph for module {module} in {directory}")
    found = []
    total = 0
    for path in paths:
        for symbol in json.load(open(path))["symbols"]:
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            total += 1
            lines = (symbol.get("docComment") or {}).get("lines") or []
            if any(line.get("text", "").strip() for line in lines):
                continue
            location = symbol.get("location", {})
            file = location.get("uri", "?").removeprefix("file://")
            line = location.get("position", {}).get("line", -1) + 1
            kind = symbol["kind"]["identifier"].removeprefix("swift.")
            found.append(f"{os.path.relpath(file)}:{line}: {kind} {'.'.join(symbol['pathComponents'])}")
    return total, sorted(found)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    missing = []
    for module in sys.argv[2:]:
        total, found = undocumented(sys.argv[1], module)
        print(f"{module}: {total} public symbols, {len(found)} without a doc comment")
        missing += found
    for entry in missing:
        print(entry)
    if missing:
        sys.exit(f"{len(missing)} public symbols of the library products have no doc comment")


if __name__ == "__main__":
    main()
