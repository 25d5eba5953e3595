// Objects (PKCS#11 2.40 §5.7): C_FindObjects* and C_GetAttributeValue over the card's objects.
#include "token/module_state.hpp"

namespace jpki::token {

void Module::find_objects_init(CK_SESSION_HANDLE handle, std::span<const CK_ATTRIBUTE> match) {
    const auto session = state_->session(handle);
    if (session->found) throw Error(CKR_OPERATION_ACTIVE);
    std::vector<CK_OBJECT_HANDLE> found;
    state_->with_card(session->card, [&](InsertedCard& card) { found = card.find_objects(session->role, match); });
    session->found = std::move(found);
    session->found_next = 0;
}

std::vector<CK_OBJECT_HANDLE> Module::find_objects(CK_SESSION_HANDLE handle, std::size_t max) {
    const auto session = state_->session(handle);
    if (!session->found) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    const auto& found = *session->found;
    const std::size_t count = std::min(max, found.size() - session->found_next);
    std::vector<CK_OBJECT_HANDLE> batch(found.begin() + static_cast<std::ptrdiff_t>(session->found_next),
                                        found.begin() + static_cast<std::ptrdiff_t>(session->found_next + count));
    session->found_next += count;
    return batch;
}

void Module::find_objects_final(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    if (!session->found) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    session->found.reset();
}

CK_RV Module::get_attribute_value(CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE object,
                                  std::span<CK_ATTRIBUTE> attributes) {
    const auto session = state_->session(handle);
    return state_->with_card(session->card, [&](InsertedCard& card) {
        const Object* found = card.find_object(session->role, object);
        if (found == nullptr) throw Error(CKR_OBJECT_HANDLE_INVALID);
        return found->get_attributes(attributes);
    });
}

}  // namespace jpki::token
