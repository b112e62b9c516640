# SPDX-License-Identifier: MIT
# Optional peer libraries for `ipckit bench`, found if installed, never
# required. Each one found adds IPK_BENCH_HAVE_<NAME> to the CLI; a missing
# one leaves its row saying which package to install.
option(IPK_BENCH_PEERS "Measure ZeroMQ, nng and iceoryx when installed" ON)
target_compile_definitions(ipckit-cli PRIVATE IPK_BENCH_ENABLED)
if(IPK_BENCH_PEERS)
  find_path(IPK_ZMQ_INCLUDE zmq.h)
  find_library(IPK_ZMQ_LIB zmq)
  if(IPK_ZMQ_INCLUDE AND IPK_ZMQ_LIB)
    target_compile_definitions(ipckit-cli PRIVATE IPK_BENCH_HAVE_ZMQ)
    target_include_directories(ipckit-cli PRIVATE ${IPK_ZMQ_INCLUDE})
    target_link_libraries(ipckit-cli PRIVATE ${IPK_ZMQ_LIB})
  endif()
  find_path(IPK_NNG_INCLUDE nng/nng.h)
  find_library(IPK_NNG_LIB nng)
  if(IPK_NNG_INCLUDE AND IPK_NNG_LIB)
    target_compile_definitions(ipckit-cli PRIVATE IPK_BENCH_HAVE_NNG)
    target_include_directories(ipckit-cli PRIVATE ${IPK_NNG_INCLUDE})
    target_link_libraries(ipckit-cli PRIVATE ${IPK_NNG_LIB})
  endif()
  # iceoryx installs its headers under a versioned directory.
  file(GLOB IPK_ICEORYX_HINTS /usr/include/iceoryx/v* /usr/local/include/iceoryx/v*)
  find_path(IPK_ICEORYX_INCLUDE iceoryx_binding_c/runtime.h
    HINTS ${IPK_ICEORYX_HINTS})
  find_library(IPK_ICEORYX_LIB iceoryx_binding_c)
  find_program(IPK_IOX_ROUDI iox-roudi)
  if(IPK_ICEORYX_INCLUDE AND IPK_ICEORYX_LIB)
    target_compile_definitions(ipckit-cli PRIVATE IPK_BENCH_HAVE_ICEORYX
      IPK_IOX_ROUDI="${IPK_IOX_ROUDI}")
    target_include_directories(ipckit-cli PRIVATE ${IPK_ICEORYX_INCLUDE})
    target_link_libraries(ipckit-cli PRIVATE ${IPK_ICEORYX_LIB})
  endif()
  message(STATUS "ipckit bench peers: zmq=${IPK_ZMQ_LIB} nng=${IPK_NNG_LIB} iceoryx=${IPK_ICEORYX_LIB}")
endif()
