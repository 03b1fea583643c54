# shakeout_library(<area> SOURCES ... DEPS ...): one static library per area,
# named shakeout_<area>, with src/ on the include path.
function(shakeout_library area)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(shakeout_${area} STATIC ${ARG_SOURCES})
  target_include_directories(shakeout_${area} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(shakeout_${area} PUBLIC ${ARG_DEPS})
  target_precompile_headers(shakeout_${area} REUSE_FROM shakeout_pch)
endfunction()

# shakeout_test(<name> SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary
# whose tests are registered with ctest one by one.
function(shakeout_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  # shakeout_common: the precompiled Asio headers need its compiled Asio.
  # shakeout_test_support holds main() (see tests/support/test_main.cc).
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} shakeout_test_support shakeout_common GTest::gtest)
  target_precompile_headers(${name} REUSE_FROM shakeout_pch)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(labels)
  if(ARG_LABELS)
    set(labels LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name}
    PROPERTIES ${labels} TIMEOUT ${ARG_TIMEOUT}
               ENVIRONMENT "SHAKEOUT_BINARY=$<TARGET_FILE:shakeout>"
    DISCOVERY_TIMEOUT 60)
endfunction()
