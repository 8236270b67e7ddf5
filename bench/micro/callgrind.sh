#!/usr/bin/env bash
# Instructions per call of the engine's hot path (decode → route → validate → handler →
# encode of `tools/call echo`), counted by callgrind: N calls minus a run of 0 calls (start-up),
# divided by N. Deterministic enough to catch regressions that timings hide.
#   bench/micro/callgrind.sh PATH/TO/plexus_micro_bench [N=20000]
# Prints: era=modern instructions_per_call=...   (and the same for legacy)
set -euo pipefail
bin=$1; n=${2:-20000}
command -v valgrind >/dev/null || { echo "callgrind: valgrind not installed" >&2; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
total() {  # total ERA CALLS -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" --count "$2" "$1" \
    >/dev/null 2>"$work/vg.log" || { cat "$work/vg.log" >&2; return 1; }
  awk '/^summary:/ { print $2 }' "$work/cg.out"
}
for era in modern legacy; do
  base=$(total "$era" 0)
  full=$(total "$era" "$n")
  echo "era=$era calls=$n instructions_per_call=$(( (full - base) / n ))"
done
