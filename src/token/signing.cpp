// Signing (§5.11), software verification (§5.13) and random numbers (§5.15).
#include "token/module_state.hpp"

namespace jpki::token {

void Module::sign_init(CK_SESSION_HANDLE handle, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
    const auto session = state_->session(handle);
    if (session->sign) throw Error(CKR_OPERATION_ACTIVE);
    bool always_authenticate = false;
    // CKR_MECHANISM_(PARAM_)INVALID before anything else.
    DataCollector data(state_->crypto, mechanism, session->card->profile().role(session->role));
    state_->with_card(session->card, [&](InsertedCard& card) {
        // RSA-PSS only where the token lists it (proven for this card, or `pss = on`).
        if (!card.offers(session->role, data.mechanism()))
            throw Error(CKR_MECHANISM_INVALID, "RSA-PSS is not offered for this card: pss=off, or not proven for this key "
                                               "(jpki pss probe; docs/module.md \"RSA-PSS\")");
        const Object* object = card.find_object(session->role, key);
        // A key found while logged in, the login since ended (perhaps by another program's
        // logout-reset): "log in again" is the useful answer (PKCS#11 2.40 §5.11 lists it).
        if (object == nullptr && card.hidden_private_object(session->role, key)) throw Error(CKR_USER_NOT_LOGGED_IN);
        if (object == nullptr) throw Error(CKR_KEY_HANDLE_INVALID);
        if (object->object_class() != CKO_PRIVATE_KEY) throw Error(CKR_KEY_FUNCTION_NOT_PERMITTED);
        const Bytes* flag = object->find(CKA_ALWAYS_AUTHENTICATE);
        always_authenticate = flag != nullptr && !flag->empty() && (*flag)[0] == CK_TRUE;
    });
    session->sign.emplace(SignOperation{std::move(data), session->role, always_authenticate});
}

std::size_t Module::signature_length(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    if (!session->sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    // The key's own length (docs/design.md §6: the next card's key is another size): its
    // certificate, read when C_SignInit found the key, so no card I/O here.
    const PinRole key = session->sign->key;
    return state_->with_card(session->card, [&](InsertedCard& card) { return card.signature_size(key); });
}

namespace {

// Ends the session's sign operation whatever happens (§5.11: C_Sign and C_SignFinal end it
// unless they answer a length query or CKR_BUFFER_TOO_SMALL, which the C API handles first).
SignOperation take_sign_operation(Session& session) {
    if (!session.sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    SignOperation operation = std::move(*session.sign);
    session.sign.reset();
    return operation;
}

}  // namespace

// The card's signature over what the operation collected (C_Sign and C_SignFinal alike).
Bytes ModuleState::finish_sign(const Session& session, SignOperation& operation) {
    const Bytes input = operation.data.card_input();
    if (operation.always_authenticate && !operation.context_authenticated) throw Error(CKR_USER_NOT_LOGGED_IN);
    return with_card(session.card,
                     [&](InsertedCard& card) { return card.sign(operation.key, operation.data.mechanism(), input); });
}

Bytes Module::sign(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> data) {
    const auto session = state_->session(handle);
    SignOperation operation = take_sign_operation(*session);
    if (operation.data.multi_part()) throw Error(CKR_OPERATION_ACTIVE, "C_Sign after C_SignUpdate");
    operation.data.update(data);
    return state_->finish_sign(*session, operation);
}

void Module::sign_update(CK_SESSION_HANDLE handle, std::optional<std::span<const std::uint8_t>> part) {
    const auto session = state_->session(handle);
    if (!part) {
        session->sign.reset();  // a failed update ends the operation, if there was one
        throw Error(CKR_ARGUMENTS_BAD);
    }
    if (!session->sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    // §5.11: a C_SignUpdate that fails ends the signature operation.
    try {
        session->sign->data.update(*part);
    } catch (...) {
        session->sign.reset();
        throw;
    }
}

Bytes Module::sign_final(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    SignOperation operation = take_sign_operation(*session);
    return state_->finish_sign(*session, operation);
}

void Module::verify_init(CK_SESSION_HANDLE handle, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
    const auto session = state_->session(handle);
    if (session->verify) throw Error(CKR_OPERATION_ACTIVE);
    Bytes modulus;
    Bytes exponent;
    state_->with_card(session->card, [&](InsertedCard& card) {
        const Object* object = card.find_object(session->role, key);
        if (object == nullptr) throw Error(CKR_KEY_HANDLE_INVALID);
        const Bytes* can_verify = object->find(CKA_VERIFY);
        if (can_verify == nullptr || can_verify->empty() || (*can_verify)[0] != CK_TRUE)
            throw Error(CKR_KEY_FUNCTION_NOT_PERMITTED);
        modulus = *object->find(CKA_MODULUS);
        exponent = *object->find(CKA_PUBLIC_EXPONENT);
    });
    session->verify.emplace(VerifyOperation{DataCollector(state_->crypto, mechanism, session->card->profile().role(session->role)),
                                            crypto::RsaPublicKey(std::move(modulus), std::move(exponent))});
}

namespace {

void check_signature(crypto::Context& crypto, VerifyOperation& operation, std::span<const std::uint8_t> signature) {
    if (signature.size() != operation.key.size()) throw Error(CKR_SIGNATURE_LEN_RANGE);
    const Bytes signed_bytes = operation.data.card_input();  // what the card would have signed
    if (!verifies(crypto, operation.data.mechanism(), operation.key, signed_bytes, signature))
        throw Error(CKR_SIGNATURE_INVALID);
}

}  // namespace

void Module::verify(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> data,
                    std::span<const std::uint8_t> signature) {
    const auto session = state_->session(handle);
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    VerifyOperation operation = std::move(*session->verify);
    session->verify.reset();
    if (operation.data.multi_part()) throw Error(CKR_OPERATION_ACTIVE, "C_Verify after C_VerifyUpdate");
    operation.data.update(data);
    check_signature(state_->crypto, operation, signature);
}

void Module::verify_update(CK_SESSION_HANDLE handle, std::optional<std::span<const std::uint8_t>> part) {
    const auto session = state_->session(handle);
    if (!part) {
        session->verify.reset();  // a failed update ends the operation, if there was one
        throw Error(CKR_ARGUMENTS_BAD);
    }
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    // §5.13: a C_VerifyUpdate that fails ends the verification operation.
    try {
        session->verify->data.update(*part);
    } catch (...) {
        session->verify.reset();
        throw;
    }
}

void Module::verify_final(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> signature) {
    const auto session = state_->session(handle);
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    VerifyOperation operation = std::move(*session->verify);
    session->verify.reset();
    check_signature(state_->crypto, operation, signature);
}

}  // namespace jpki::token
