#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ into build/fuzz and
# runs each one for a bounded time on a copy of its seed corpus. Exits non-zero
# when a target crashes (or leaks, or trips a sanitizer); the input that did it
# is kept under build/fuzz/run/<target>/ and printed in hex.
#
#   PLEXUS_FUZZ_SECONDS  seconds per target (default 20)
#   PLEXUS_FUZZ_TARGETS  which targets (default "jsonrpc sse http_request")
#   PLEXUS_FUZZ_JOBS     build parallelism (default 2)
#   CXX_FUZZ             the clang++ to use (default clang++)
#
# Installs nothing: clang and its fuzzer runtime come from scripts/install-deps.sh
# --test (Debian packages clang and libclang-rt-14-dev).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/tests/fuzz"
build="$root/build/fuzz"
seconds="${PLEXUS_FUZZ_SECONDS:-20}"
targets="${PLEXUS_FUZZ_TARGETS:-jsonrpc sse http_request}"
jobs="${PLEXUS_FUZZ_JOBS:-2}"
cxx="${CXX_FUZZ:-clang++}"

die() {
  echo "fuzz: $*" >&2
  exit 1
}

case "$seconds" in '' | *[!0-9]*) die "PLEXUS_FUZZ_SECONDS must be a whole number of seconds" ;; esac
command -v "$cxx" >/dev/null 2>&1 ||
  die "$cxx not found: install the Debian package clang (scripts/install-deps.sh --test)"
command -v cmake >/dev/null 2>&1 || die "cmake not found (scripts/install-deps.sh)"
command -v ninja >/dev/null 2>&1 || die "ninja not found (scripts/install-deps.sh)"

# Does -fsanitize=fuzzer link? Debian ships libFuzzer in libclang-rt-<version>-dev,
# which clang only recommends.
mkdir -p "$build"
probe="$build/probe"
printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
  'extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }' \
  >"$probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe.cpp" -o "$probe" >"$probe.log" 2>&1; then
  cat "$probe.log" >&2
  version="$("$cxx" -dumpversion | cut -d. -f1)"
  die "$cxx cannot link -fsanitize=fuzzer: the libFuzzer runtime is missing; install the Debian package libclang-rt-${version}-dev (scripts/install-deps.sh --test)"
fi

echo "fuzz: building into $build" >&2
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
    {
      cat "$build/configure.log" >&2
      die "configure failed"
    }
fi
build_targets=()
for t in $targets; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j "$jobs" --target "${build_targets[@]}" >"$build/build.log" 2>&1 ||
  {
    tail -n 60 "$build/build.log" >&2
    die "build failed (full log: $build/build.log)"
  }

status=0
for t in $targets; do
  bin="$build/fuzz_$t"
  work="$build/run/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp "$src/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/" -close_fd_mask=1)
  case "$t" in
    jsonrpc) args+=(-dict="$src/json.dict") ;;
    sse) args+=(-dict="$src/sse.dict") ;;
    http_request)
      # Long enough to cross the 16 KiB header limit.
      cat "$src/json.dict" "$src/http.dict" >"$work/dict"
      args+=(-dict="$work/dict" -max_len=20000)
      ;;
  esac
  log="$work/log"
  rc=0
  (cd "$work" && "$bin" "${args[@]}" "$work/corpus") >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
  [ -n "$done_line" ] || done_line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")"
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$t: ok, ${execs:-?} executions in ${seconds}s, coverage ${cov:-?} edges / ${ft:-?} features, corpus ${corp:-?}"
  else
    status=1
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions, coverage ${cov:-?} edges"
    grep -E 'ERROR|SUMMARY|runtime error|deadly signal|Test unit written' "$log" | head -n 20 || true
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -f "$a" ] || continue
      echo "  reproducer $a ($(wc -c <"$a") bytes), hex:"
      od -An -tx1 -v "$a" | head -n 40 | sed 's/^/   /'
      echo "  replay: $bin $a"
    done
    echo "  full log: $log"
  fi
done
exit "$status"
