# cmake -DPROJECT_VERSION=X.Y.Z -DCHANGELOG=debian/changelog -P changelog-version.cmake
# Fails unless the changelog's first line is "jpki-pkcs11 (X.Y.Z) ...": a native package, so its
# version is the project's, with no Debian revision.
file(STRINGS "${CHANGELOG}" lines LIMIT_COUNT 1)
if(NOT lines MATCHES "^jpki-pkcs11 \\(([^)]*)\\) ")
  message(FATAL_ERROR "${CHANGELOG}: first line is not 'jpki-pkcs11 (VERSION) ...': ${lines}")
endif()
set(changelog_version "${CMAKE_MATCH_1}")
if(NOT changelog_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "debian/changelog's version ${changelog_version} differs from the project's "
                      "${PROJECT_VERSION} (CMakeLists.txt project()): add an entry at the top of "
                      "debian/changelog for ${PROJECT_VERSION}")
endif()
message(STATUS "debian/changelog and CMakeLists.txt both say ${PROJECT_VERSION}")
