# clang_format.cmake — the `format` and `check-format` targets (CMakeLists.txt):
#   cmake -DMODE=format|check -DCLANG_FORMAT=PATH -DSOURCE_DIR=DIR -P clang_format.cmake
# Runs clang-format (the repo's .clang-format) over every *.c and *.h that git
# knows in SOURCE_DIR. MODE=format rewrites them in place; MODE=check changes
# nothing and fails, naming each file that is not formatted, if any is not.
if(NOT CLANG_FORMAT)
  message(FATAL_ERROR "clang-format not found (apt-get install clang-format)")
endif()
execute_process(COMMAND git ls-files -- "*.c" "*.h"
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_VARIABLE files ERROR_VARIABLE git_err RESULT_VARIABLE rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${MODE}: git ls-files failed in ${SOURCE_DIR} (a git checkout is needed): "
    "${git_err}")
endif()
if(files STREQUAL "")
  return()
endif()
string(REPLACE "\n" ";" files "${files}")
list(LENGTH files n)

if(MODE STREQUAL "format")
  execute_process(COMMAND "${CLANG_FORMAT}" -i ${files}
    WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "clang-format -i failed (exit ${rc})")
  endif()
  message(STATUS "clang-format: ${n} files formatted")
elseif(MODE STREQUAL "check")
  execute_process(COMMAND "${CLANG_FORMAT}" --dry-run -Werror ${files}
    WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE rc ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    # clang-format reports "FILE:LINE:COL: error: code should be clang-formatted"
    string(REGEX MATCHALL "[^\n]+:[0-9]+:[0-9]+: error:" hits "${out}")
    set(bad "")
    foreach(h IN LISTS hits)
      string(REGEX REPLACE ":[0-9]+:[0-9]+: error:$" "" f "${h}")
      list(APPEND bad "${f}")
    endforeach()
    list(REMOVE_DUPLICATES bad)
    list(LENGTH bad nbad)
    list(JOIN bad "\n  " bad)
    message("${out}")
    message(FATAL_ERROR "clang-format: ${nbad} of ${n} files need formatting:\n  ${bad}\n"
      "fix them with: cmake --build <build dir> --target format")
  endif()
  message(STATUS "clang-format: ${n} files checked, all formatted")
else()
  message(FATAL_ERROR "MODE must be format or check, not '${MODE}'")
endif()
