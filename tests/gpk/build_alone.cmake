# cmake -DCXX=... -DFILES=a;b;... -DMAIN=... -DGPK=... -DOUT=... -P build_alone.cmake
# Copies the counted decoder's files, and nothing else, into OUT/gpk, builds
# them with MAIN using only the C++ standard library, and checks the decoded
# values of the golden file GPK (golden_v2.gpk or golden_v3.gpk).
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT}/gpk)
set(cpps "")
foreach(f ${FILES})
  file(COPY ${f} DESTINATION ${OUT}/gpk)
  get_filename_component(n ${f} NAME)
  if(n MATCHES "\\.cpp$")
    list(APPEND cpps ${OUT}/gpk/${n})
  endif()
endforeach()
execute_process(COMMAND ${CXX} -std=c++20 -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
                        -I${OUT} ${MAIN} ${cpps} -o ${OUT}/decode
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the counted decoder does not build alone:\n${err}")
endif()
execute_process(COMMAND ${OUT}/decode ${GPK} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
get_filename_component(golden ${GPK} NAME_WE)
if(golden STREQUAL "golden_v3")  # byte-shuffled sections (version 3)
  set(want "a 1 -2 0.5\nb 1 -2 63.5\nc -1.5 -0.5 0.5 1.5 3 1 -1 -3\nd 0.25 0.25\ne 1 -2\n")
else()
  set(want "a 1 2 3 4\nb -1 -0.5 0.5 1 2 1 -1 -2\nc 0.5 0.25 -0.25 -0.5\n")
endif()
if(NOT rc EQUAL 0 OR NOT out STREQUAL want)
  message(FATAL_ERROR "decoding ${GPK} alone gave rc ${rc}:\n${out}${err}\nwanted:\n${want}")
endif()
message(STATUS "counted decoder built alone and decoded ${GPK}")
