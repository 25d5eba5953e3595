#include "card/read_plan.hpp"

namespace jpki::card {

ReadPlan::Form ReadPlan::certificate_form() const noexcept {
    if (extended_ == Support::No) return Form::SelectShort;
    if (short_ef_id_ == Support::No) return Form::SelectExtended;
    return Form::ShortEfIdExtended;
}

void ReadPlan::worked(Form form) noexcept {
    switch (form) {
    case Form::ShortEfIdExtended:
        short_ef_id_ = Support::Yes;
        extended_ = Support::Yes;
        break;
    case Form::SelectExtended:
        extended_ = Support::Yes;
        break;
    case Form::SelectShort:
        break;
    }
    short_ef_id_suspected_ = false;
}

void ReadPlan::refused_by_card(Form form) noexcept {
    switch (form) {
    case Form::ShortEfIdExtended:
        // Which of the two did the card refuse? What is known already tells; else suspect the
        // short EF identifier and let SelectExtended decide.
        if (extended_ == Support::Yes) {
            // Suspected only: an extended Le known from an earlier process (the per-user cache)
            // may not hold for this card; if SelectExtended is refused too, it was to blame.
            short_ef_id_ = Support::No;
            short_ef_id_suspected_ = true;
        } else if (short_ef_id_ == Support::Yes) {
            extended_ = Support::No;
        } else {
            short_ef_id_ = Support::No;
            short_ef_id_suspected_ = true;
        }
        break;
    case Form::SelectExtended:
        extended_ = Support::No;
        if (short_ef_id_suspected_) short_ef_id_ = Support::Unknown;
        short_ef_id_suspected_ = false;
        break;
    case Form::SelectShort:
        break;  // nothing left to learn: the caller reports the error
    }
}

void ReadPlan::short_ef_id_answered(bool worked) noexcept {
    short_ef_id_ = worked ? Support::Yes : Support::No;
    short_ef_id_suspected_ = false;
}

}  // namespace jpki::card
