# Included by the top-level CMakeLists.txt when CC_FUZZ is ON: a separate build (clang, build-fuzz/)
# of only the libraries the libFuzzer targets need, instrumented with ASan and UBSan, and the
# targets themselves (fuzz/CMakeLists.txt). The ordinary GCC build never comes here.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "CC_FUZZ needs clang (libFuzzer): configure with CC=clang CXX=clang++ into build-fuzz/, "
                      "as deploy/test.sh does; see docs/fuzzing.md.")
endif()
set(CC_SANITIZE "-fsanitize=address,undefined" CACHE STRING "sanitizers for the fuzz build")
# Everything is built with the sanitizers and libFuzzer's coverage hooks; undefined behaviour stops
# the run (so it counts as a crash) instead of printing and going on.
add_compile_options(${CC_SANITIZE} -fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer
                    -fsanitize-ignorelist=${CMAKE_SOURCE_DIR}/fuzz/sanitizer-ignorelist.txt
                    -Wno-ambiguous-reversed-operator)  # RapidJSON 1.1 iterators under C++20
add_link_options(${CC_SANITIZE})

add_subdirectory(engine/core)
add_subdirectory(engine/fhir)
add_subdirectory(engine/identity)
add_subdirectory(adapters/hl7v2)
add_subdirectory(adapters/csv)
add_subdirectory(adapters/fhir)
add_subdirectory(engine/mapping)
add_subdirectory(engine/store)
add_subdirectory(engine/governance)
add_subdirectory(engine/api)

enable_testing()
add_subdirectory(fuzz)
