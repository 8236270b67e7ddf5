#!/usr/bin/env bash
# Fails when a tracked C++ file is not clang-formatted.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: clang-format missing" >&2; exit 1; }
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || true)
[ -z "$files" ] && files=$(find include src apps tests bench -name '*.cpp' -o -name '*.hpp')
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f" >&2; bad=1; fi
done
if [ "$bad" -ne 0 ]; then echo "format-check: run clang-format -i on the files above" >&2; exit 1; fi
echo "format-check: ok"
