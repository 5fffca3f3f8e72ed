# weft_module_landed(<module>[:<function>] <out-var>): whether src/<module>.c
# is part of the library yet (and defines <function>, if given). In a git checkout that means committed, so that a module
# someone is still writing in a shared work tree does not break the
# programs that call it (tools/weft, examples/); elsewhere it means the file
# exists. Scaffolding for the months when modules land one by one.
# -DWEFT_UNLANDED=ON counts uncommitted files too (to try the programs
# against work in progress).
find_package(Git QUIET)
set(WEFT_UNLANDED OFF CACHE BOOL "Build tools and examples against uncommitted modules")

function(weft_module_landed spec out)
  string(REPLACE ":" ";" _parts "${spec}")
  list(GET _parts 0 module)
  set(_path src/${module}.c)
  set(${out} FALSE PARENT_SCOPE)
  if(NOT EXISTS ${PROJECT_SOURCE_DIR}/${_path})
    return()
  endif()
  if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git AND NOT WEFT_UNLANDED)
    execute_process(COMMAND ${GIT_EXECUTABLE} ls-files --error-unmatch ${_path}
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(NOT _rc EQUAL 0)
      return()
    endif()
  endif()
  list(LENGTH _parts _n)
  if(_n GREATER 1)
    list(GET _parts 1 _fn)
    file(STRINGS ${PROJECT_SOURCE_DIR}/${_path} _def REGEX "^[a-z].*[ *]${_fn}\\(")
    if(NOT _def)
      return()
    endif()
  endif()
  set(${out} TRUE PARENT_SCOPE)
endfunction()

# weft_modules_landed(<out-var> <missing-var> <module>...): all of them?
function(weft_modules_landed out missing)
  set(${out} TRUE PARENT_SCOPE)
  foreach(m ${ARGN})
    weft_module_landed(${m} _landed)
    if(NOT _landed)
      set(${out} FALSE PARENT_SCOPE)
      set(${missing} ${m} PARENT_SCOPE)
      return()
    endif()
  endforeach()
endfunction()
