# bench smoke test (ctest -L bench): bench/run --smoke runs every scenario at tiny durations and sizes
# against the plexus binary of this build and must produce a report. It asserts only that the
# harness runs and writes report.md, never speeds. Included from tests/CMakeLists.txt.
find_program(BENCH_BASH bash)
find_program(BENCH_PYTHON3 python3)
if(BENCH_BASH AND BENCH_PYTHON3 AND TARGET plexus_cli)
  add_test(NAME bench_smoke
    COMMAND ${BENCH_BASH} -c "\"$0\" --smoke --plexus \"$1\" --out \"$2\" --bin \"$3\" && test -s \"$2/report.md\" && grep -q '^## stdio' \"$2/report.md\""
      ${CMAKE_SOURCE_DIR}/bench/run $<TARGET_FILE:plexus_cli>
      ${CMAKE_BINARY_DIR}/bench-smoke ${CMAKE_BINARY_DIR}/bench-bin)
  set_tests_properties(bench_smoke PROPERTIES LABELS bench TIMEOUT 120 RUN_SERIAL TRUE)
endif()
