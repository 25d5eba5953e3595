// ReadPlan: what a refusal or a success teaches about a card and reader's READ BINARY forms
// (src/card/read_plan.hpp; issue 11).
#include "card/read_plan.hpp"

#include <catch2/catch.hpp>

using jpki::card::ReadPlan;
using Form = ReadPlan::Form;
using Support = ReadPlan::Support;

TEST_CASE("ReadPlan: starts with the short EF identifier and an extended Le", "[card][read-plan]") {
    const ReadPlan plan;
    CHECK(plan.certificate_form() == Form::ShortEfIdExtended);
    CHECK(plan.use_short_ef_id());
}

TEST_CASE("ReadPlan: a refused first form is blamed on what is not known to work", "[card][read-plan]") {
    SECTION("extended known to work: the short EF identifier is out") {
        ReadPlan plan;
        plan.worked(Form::SelectExtended);
        plan.refused_by_card(Form::ShortEfIdExtended);
        CHECK(plan.short_ef_id() == Support::No);
        CHECK(plan.certificate_form() == Form::SelectExtended);
    }
    SECTION("short EF identifier known to work: the extended Le is out") {
        ReadPlan plan;
        plan.short_ef_id_answered(true);
        plan.refused_by_card(Form::ShortEfIdExtended);
        CHECK(plan.extended() == Support::No);
        CHECK(plan.certificate_form() == Form::SelectShort);
        CHECK(plan.use_short_ef_id());
    }
    SECTION("nothing known: SelectExtended decides") {
        ReadPlan plan;
        plan.refused_by_card(Form::ShortEfIdExtended);
        CHECK(plan.certificate_form() == Form::SelectExtended);
        SECTION("it works: the short EF identifier was to blame") {
            plan.worked(Form::SelectExtended);
            CHECK(plan.short_ef_id() == Support::No);
            CHECK(plan.extended() == Support::Yes);
        }
        SECTION("refused too: the extended Le was to blame, short EF ids still open") {
            plan.refused_by_card(Form::SelectExtended);
            CHECK(plan.extended() == Support::No);
            CHECK(plan.short_ef_id() == Support::Unknown);
            CHECK(plan.certificate_form() == Form::SelectShort);
        }
    }
}

TEST_CASE("ReadPlan: a reader refusing extended APDUs rules out the extended forms only", "[card][read-plan]") {
    ReadPlan plan;
    plan.refused_by_reader();
    CHECK(plan.certificate_form() == Form::SelectShort);
    CHECK(plan.use_short_ef_id());
    plan.short_ef_id_answered(false);
    CHECK_FALSE(plan.use_short_ef_id());
}

TEST_CASE("ReadPlan: facts from an earlier process that do not hold are unlearnt, not blamed on the other form",
          "[card][read-plan]") {
    // The per-user cache said both forms work (issue 11); this card takes short EF identifiers
    // (the probe's small-file read just showed it) but refuses the extended Le.
    ReadPlan plan(Support::Yes, Support::Yes);
    plan.short_ef_id_answered(true);
    plan.refused_by_card(Form::ShortEfIdExtended);
    CHECK(plan.certificate_form() == Form::SelectExtended);
    plan.refused_by_card(Form::SelectExtended);
    CHECK(plan.extended() == Support::No);
    CHECK(plan.certificate_form() == Form::SelectShort);
    // The refusal of ShortEfIdExtended was the extended Le's: the short EF identifier is not out.
    CHECK(plan.short_ef_id() != Support::No);
    CHECK(plan.use_short_ef_id());
}
