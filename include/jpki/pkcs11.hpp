// The PKCS#11 2.40 header of Debian 12's p11-kit, plus the few PKCS#11 3.0 constants the
// module needs (docs/design.md §3 "Which slots an application sees"), defined here because the
// 2.40 header lacks them. Values from PKCS#11 v3.0 §4.13 (profile objects).
#pragma once

#include <p11-kit/pkcs11.h>

#ifndef CKO_PROFILE
#define CKO_PROFILE 0x00000009UL
#endif
#ifndef CKA_PROFILE_ID
#define CKA_PROFILE_ID 0x00000601UL
#endif
#ifndef CKP_PUBLIC_CERTIFICATES_TOKEN
#define CKP_PUBLIC_CERTIFICATES_TOKEN 0x00000004UL
#endif
