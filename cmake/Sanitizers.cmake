if(SHARDSTUDIO_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # -O1, as AddressSanitizer's own documentation advises: every check stays, and the
  # reference executor and the engine's host code run several times faster than at -O0.
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${_san};-O1>")
  add_link_options(${_san})
endif()
