# Installation extras and the Debian package (cpack -G DEB). Programs install their own
# targets; resources/CMakeLists.txt installs the presets and example plans.
include(GNUInstallDirs)
install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/shardstudio.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
if(TARGET shardstudio)
  # A launcher only where there is a studio to launch.
  install(FILES ${PROJECT_SOURCE_DIR}/installer/shardstudio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "shardstudio")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "ShardStudio")
set(CPACK_PACKAGE_CONTACT "ShardStudio developers <shardstudio@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Plan, run and compare tensor-parallel shard layouts of LLMs over GPUs")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/shardstudio")
# Runtime packages of Debian 12 for what the programs link (the engine's CUDA libraries
# come from NVIDIA's repository, so they are recommended, not required: without them the
# CLI and the studio run and say the cuda backends are unavailable and why).
set(_depends "libc6, libstdc++6, libgcc-s1, libsqlite3-0, libopenblas0 | libopenblas0-pthread")
if(TARGET shardstudio)
  string(APPEND _depends ", libqt6core6, libqt6gui6, libqt6widgets6, libqt6concurrent6, libqt6svg6, "
                         "libqt6printsupport6, libqcustomplot2.1-qt6, qt6-qpa-plugins")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_depends}")
if(SHARDSTUDIO_WITH_CUDA)
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
      "cuda-cudart-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}, libcublas-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}, libnccl2")
  if(TARGET shard-engine-mpi) # runs only under mpirun, so MPI is recommended too
    string(APPEND CPACK_DEBIAN_PACKAGE_RECOMMENDS ", libopenmpi3, openmpi-bin")
  endif()
endif()
include(CPack)
