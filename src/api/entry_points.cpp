// Every C_* entry point of PKCS#11 2.40 (§5). Each checks its pointer arguments, then makes
// exactly one call into the token layer inside the one guard (Instance::with_module), which
// also answers CKR_CRYPTOKI_NOT_INITIALIZED and turns exceptions into CK_RV. Functions a
// read-only signing card cannot offer answer CKR_FUNCTION_NOT_SUPPORTED, after the same checks.
#include "api/instance.hpp"
#include "api/two_call.hpp"

#include <cstring>
#include <span>

using jpki::Bytes;
using jpki::SecureBytes;
using jpki::api::Instance;
using jpki::api::return_array;
using jpki::api::return_bytes;
using jpki::token::Module;

namespace {

template <typename Body>
CK_RV guarded(Body&& body) {
    return Instance::get().with_module(std::forward<Body>(body));
}

CK_RV not_supported() {
    return guarded([](Module&) { return CKR_FUNCTION_NOT_SUPPORTED; });
}

// A (pointer, length) pair from the caller: null with a non-zero length is a bad argument.
bool bad_buffer(const void* pointer, CK_ULONG length) { return pointer == nullptr && length != 0; }

std::span<const std::uint8_t> bytes(CK_BYTE_PTR pointer, CK_ULONG length) {
    if (pointer == nullptr) return {};
    return {pointer, static_cast<std::size_t>(length)};
}

SecureBytes secret(CK_UTF8CHAR_PTR pointer, CK_ULONG length) {
    return SecureBytes(bytes(pointer, length));
}

// No JPKI PIN is longer than 16 characters (docs/card.md); a length beyond this is out of range
// without reading that much of the caller's memory.
constexpr CK_ULONG kLongestPinRead = 64;

void pad_copy(CK_UTF8CHAR* field, std::size_t size, std::string_view text) {
    std::memset(field, ' ', size);
    std::memcpy(field, text.data(), std::min(size, text.size()));
}

}  // namespace

extern "C" {

CK_RV C_Initialize(CK_VOID_PTR pInitArgs) { return Instance::get().initialize(pInitArgs); }

CK_RV C_Finalize(CK_VOID_PTR pReserved) { return Instance::get().finalize(pReserved); }

CK_RV C_GetInfo(CK_INFO_PTR pInfo) {
    return guarded([&](Module&) {
        if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
        *pInfo = CK_INFO{};
        pInfo->cryptokiVersion = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR};
        pad_copy(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "jpki-pkcs11");
        pad_copy(pInfo->libraryDescription, sizeof pInfo->libraryDescription,
                 "My Number Card (JPKI) PKCS#11");
        pInfo->libraryVersion = {JPKI_VERSION_MAJOR, JPKI_VERSION_MINOR};
        return CKR_OK;
    });
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
    return guarded([&](Module& module) {
        if (pulCount == nullptr) return CKR_ARGUMENTS_BAD;
        return return_array(module.slot_list(tokenPresent == CK_TRUE), pSlotList, pulCount);
    });
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
    return guarded([&](Module& module) {
        if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
        *pInfo = module.slot_info(slotID);
        return CKR_OK;
    });
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
    return guarded([&](Module& module) {
        if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
        *pInfo = module.token_info(slotID);
        return CKR_OK;
    });
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
    return guarded([&](Module& module) {
        if (pulCount == nullptr) return CKR_ARGUMENTS_BAD;
        return return_array(module.mechanism_list(slotID), pMechanismList, pulCount);
    });
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
    return guarded([&](Module& module) {
        if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
        *pInfo = module.mechanism_info(slotID, type);
        return CKR_OK;
    });
}

// The card is initialised at the municipal office; nothing here can (re)initialise it.
CK_RV C_InitToken(CK_SLOT_ID, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR) { return not_supported(); }
// Unblocking a PIN also happens at the office (docs/design.md §3): no SO on this token.
CK_RV C_InitPIN(CK_SESSION_HANDLE, CK_UTF8CHAR_PTR, CK_ULONG) { return not_supported(); }

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen) {
    return guarded([&](Module& module) {
        // No protected authentication path: both PINs come from the caller.
        if (pOldPin == nullptr || pNewPin == nullptr) return CKR_ARGUMENTS_BAD;
        if (ulOldLen > kLongestPinRead || ulNewLen > kLongestPinRead) {
            module.check_session(hSession);
            return CKR_PIN_LEN_RANGE;
        }
        module.set_pin(hSession, secret(pOldPin, ulOldLen), secret(pNewPin, ulNewLen));
        return CKR_OK;
    });
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY, CK_SESSION_HANDLE_PTR phSession) {
    return guarded([&](Module& module) {
        if (phSession == nullptr) return CKR_ARGUMENTS_BAD;
        // §5.6: CKF_SERIAL_SESSION must always be set (legacy parallel sessions do not exist).
        if ((flags & CKF_SERIAL_SESSION) == 0) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
        *phSession = module.open_session(slotID, flags);
        return CKR_OK;
    });
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession) {
    return guarded([&](Module& module) {
        module.close_session(hSession);
        return CKR_OK;
    });
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID) {
    return guarded([&](Module& module) {
        module.close_all_sessions(slotID);
        return CKR_OK;
    });
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
    return guarded([&](Module& module) {
        if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
        *pInfo = module.session_info(hSession);
        return CKR_OK;
    });
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_SetOperationState(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    return not_supported();
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
    return guarded([&](Module& module) {
        if (pPin == nullptr) return CKR_ARGUMENTS_BAD;  // no protected authentication path
        if (ulPinLen > kLongestPinRead) {
            module.check_session(hSession);
            return CKR_PIN_LEN_RANGE;
        }
        module.login(hSession, userType, secret(pPin, ulPinLen));
        return CKR_OK;
    });
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession) {
    return guarded([&](Module& module) {
        module.logout(hSession);
        return CKR_OK;
    });
}

// Objects live on the card, which this module never writes.
CK_RV C_CreateObject(CK_SESSION_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR) { return not_supported(); }
CK_RV C_CopyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR) {
    return not_supported();
}
CK_RV C_DestroyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_GetObjectSize(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ULONG_PTR) { return not_supported(); }

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount) {
    return guarded([&](Module& module) {
        if (bad_buffer(pTemplate, ulCount)) return CKR_ARGUMENTS_BAD;
        return module.get_attribute_value(hSession, hObject,
                                          std::span<CK_ATTRIBUTE>(pTemplate, pTemplate ? ulCount : 0));
    });
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG) { return not_supported(); }

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    return guarded([&](Module& module) {
        if (bad_buffer(pTemplate, ulCount)) return CKR_ARGUMENTS_BAD;
        module.find_objects_init(hSession, std::span<const CK_ATTRIBUTE>(pTemplate, pTemplate ? ulCount : 0));
        return CKR_OK;
    });
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                    CK_ULONG_PTR pulObjectCount) {
    return guarded([&](Module& module) {
        if (phObject == nullptr || pulObjectCount == nullptr) return CKR_ARGUMENTS_BAD;
        const auto found = module.find_objects(hSession, ulMaxObjectCount);
        std::copy(found.begin(), found.end(), phObject);
        *pulObjectCount = static_cast<CK_ULONG>(found.size());
        return CKR_OK;
    });
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
    return guarded([&](Module& module) {
        module.find_objects_final(hSession);
        return CKR_OK;
    });
}

// The card signs only: no encryption, decryption or digesting on it (docs/card.md).
CK_RV C_EncryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_Encrypt(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_EncryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_EncryptFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DecryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_Decrypt(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DecryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DecryptFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DigestInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR) { return not_supported(); }
CK_RV C_Digest(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DigestUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG) { return not_supported(); }
CK_RV C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_DigestFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return guarded([&](Module& module) {
        if (pMechanism == nullptr) return CKR_ARGUMENTS_BAD;
        module.sign_init(hSession, *pMechanism, hKey);
        return CKR_OK;
    });
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
             CK_ULONG_PTR pulSignatureLen) {
    return guarded([&](Module& module) {
        if (bad_buffer(pData, ulDataLen) || pulSignatureLen == nullptr) return CKR_ARGUMENTS_BAD;
        return return_bytes(module.signature_length(hSession), pSignature, pulSignatureLen,
                            [&] { return module.sign(hSession, bytes(pData, ulDataLen)); });
    });
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return guarded([&](Module& module) {
        module.sign_update(hSession, bad_buffer(pPart, ulPartLen) ? std::nullopt
                                                                  : std::optional(bytes(pPart, ulPartLen)));
        return CKR_OK;
    });
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
    return guarded([&](Module& module) {
        if (pulSignatureLen == nullptr) return CKR_ARGUMENTS_BAD;
        return return_bytes(module.signature_length(hSession), pSignature, pulSignatureLen,
                            [&] { return module.sign_final(hSession); });
    });
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_SignRecover(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return guarded([&](Module& module) {
        if (pMechanism == nullptr) return CKR_ARGUMENTS_BAD;
        module.verify_init(hSession, *pMechanism, hKey);
        return CKR_OK;
    });
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
               CK_ULONG ulSignatureLen) {
    return guarded([&](Module& module) {
        if (bad_buffer(pData, ulDataLen) || pSignature == nullptr) return CKR_ARGUMENTS_BAD;
        module.verify(hSession, bytes(pData, ulDataLen), bytes(pSignature, ulSignatureLen));
        return CKR_OK;
    });
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return guarded([&](Module& module) {
        module.verify_update(hSession, bad_buffer(pPart, ulPartLen) ? std::nullopt
                                                                    : std::optional(bytes(pPart, ulPartLen)));
        return CKR_OK;
    });
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    return guarded([&](Module& module) {
        if (pSignature == nullptr) return CKR_ARGUMENTS_BAD;
        module.verify_final(hSession, bytes(pSignature, ulSignatureLen));
        return CKR_OK;
    });
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) { return not_supported(); }
CK_RV C_VerifyRecover(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }
CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) { return not_supported(); }

// Keys are born on the card at issuance; none are generated, wrapped or derived here.
CK_RV C_GenerateKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR) {
    return not_supported();
}
CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_ATTRIBUTE_PTR, CK_ULONG, CK_ATTRIBUTE_PTR,
                        CK_ULONG, CK_OBJECT_HANDLE_PTR, CK_OBJECT_HANDLE_PTR) {
    return not_supported();
}
CK_RV C_WrapKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) {
    return not_supported();
}
CK_RV C_UnwrapKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_ATTRIBUTE_PTR,
                  CK_ULONG, CK_OBJECT_HANDLE_PTR) {
    return not_supported();
}
CK_RV C_DeriveKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG,
                  CK_OBJECT_HANDLE_PTR) {
    return not_supported();
}

// §5.15: the tokens have no generator (no CKF_RNG, docs/module.md "Random numbers"), so there
// is nothing to seed: CKR_RANDOM_NO_RNG, which also tells pkcs11-tool --test "not implemented".
// The session and the seed are checked first, as for every other call that takes them.
CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen) {
    return guarded([&](Module& module) {
        if (bad_buffer(pSeed, ulSeedLen)) return CKR_ARGUMENTS_BAD;
        module.check_session(hSession);
        return CKR_RANDOM_NO_RNG;
    });
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen) {
    return guarded([&](Module& module) {
        if (bad_buffer(pRandomData, ulRandomLen)) return CKR_ARGUMENTS_BAD;
        module.check_session(hSession);
        // The tokens do not advertise CKF_RNG (docs/module.md "Random numbers"): PKCS#11 §5.15's
        // answer for a token without a generator.
        return CKR_RANDOM_NO_RNG;
    });
}

// §5.16: legacy functions; every session here is serial.
CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE) {
    return guarded([](Module&) { return CKR_FUNCTION_NOT_PARALLEL; });
}
CK_RV C_CancelFunction(CK_SESSION_HANDLE) {
    return guarded([](Module&) { return CKR_FUNCTION_NOT_PARALLEL; });
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved) {
    return guarded([&](Module& module) {
        if (pSlot == nullptr || pReserved != nullptr) return CKR_ARGUMENTS_BAD;
        const auto slot = module.wait_for_slot_event((flags & CKF_DONT_BLOCK) != 0);
        if (!slot) return CKR_NO_EVENT;
        *pSlot = *slot;
        return CKR_OK;
    });
}

}  // extern "C"
