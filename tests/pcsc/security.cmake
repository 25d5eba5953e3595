# Issue 7 through the real PC/SC stack: security scenarios (C3, C8) and threads against a slow
# card (C2). Python 3 with python3-pykcs11 (the module) and python3-pyscard (other programs on
# the same card); each case starts its own pcscd + virtual card through with-vcard.sh.
set(JPKI_PYTHON /usr/bin/python3)   # Debian's: the python3-* packages install for it

foreach(case control-logged-in after-logout after-close-session after-close-all after-finalize
             after-exit cost-other-programs pin-flags)
  add_test(NAME pcsc.security.${case}
           COMMAND ${JPKI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/security.py run ${case})
  list(APPEND security_tests pcsc.security.${case})
endforeach()
add_test(NAME pcsc.threads.pkcs11-tool-slow-card
         COMMAND ${JPKI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/threads.py run pkcs11-tool-slow-card)
list(APPEND security_tests pcsc.threads.pkcs11-tool-slow-card)
set_tests_properties(${security_tests} PROPERTIES ENVIRONMENT "${JPKI_PCSC_TEST_ENV}" TIMEOUT 300
                     LABELS pcsc)
add_test(NAME pcsc.threads.stress COMMAND ${JPKI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/threads.py run stress)
set_tests_properties(pcsc.threads.stress PROPERTIES ENVIRONMENT "${JPKI_PCSC_TEST_ENV}" TIMEOUT 300
                     LABELS pcsc)
