# Compiler settings, ccache, sanitizers and helpers shared by every target of clipmind.

# ccache: precompiled headers need the sloppiness below or every PCH user misses the cache.
find_program(CLIPMIND_CCACHE ccache)
if(CLIPMIND_CCACHE)
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}
      ${CLIPMIND_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
endif()

if(CLIPMIND_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Applies the project's warning set to a target of ours (never to third-party code).
function(clipmind_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough
    $<$<BOOL:${CLIPMIND_WERROR}>:-Werror>)
endfunction()

# Links LibTorch and gives the target a precompiled header of the LibTorch headers we use.
# Library headers stay torch-free where they can; this only speeds up the .cpp files.
function(clipmind_use_torch target)
  target_link_libraries(${target} PUBLIC torch)
  if(NOT CLIPMIND_NO_PCH)
    target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)
  endif()
endfunction()

# Declares one project library: clipmind_<name> with alias clipmind::<name>.
function(clipmind_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(clipmind_${name} STATIC ${ARG_SOURCES})
  add_library(clipmind::${name} ALIAS clipmind_${name})
  target_link_libraries(clipmind_${name} PUBLIC clipmind::core)
  clipmind_warnings(clipmind_${name})
endfunction()

function(clipmind_print_summary)
  message(STATUS "clipmind ${PROJECT_VERSION}: build type ${CMAKE_BUILD_TYPE}")
  message(STATUS "  ffmpeg=${CLIPMIND_WITH_FFMPEG} qt=${CLIPMIND_WITH_QT} curl=${CLIPMIND_WITH_CURL} "
                 "postgres=${CLIPMIND_WITH_POSTGRES} tests=${CLIPMIND_BUILD_TESTS} bench=${CLIPMIND_BUILD_BENCH}")
  message(STATUS "  werror=${CLIPMIND_WERROR} sanitize=${CLIPMIND_SANITIZE} ccache=${CLIPMIND_CCACHE}")
  message(STATUS "  LibTorch ${Torch_VERSION} at ${Torch_DIR}")
endfunction()
