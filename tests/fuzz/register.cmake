# The fuzz smoke test: builds tests/fuzz (a separate clang project) and runs each
# libFuzzer target briefly (PLEXUS_FUZZ_SECONDS, default 20 s each). It uses
# both cores while it runs, so ctest schedules it alone.
add_test(NAME fuzz_smoke COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh)
set_tests_properties(fuzz_smoke PROPERTIES TIMEOUT 300 LABELS fuzz PROCESSORS 2)
