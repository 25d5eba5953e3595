// Writes the seed corpora of fuzz_card_responses and fuzz_token_info from the virtual card's
// real answers: for each first operation of card_flow.hpp, a fresh card runs the rest of the
// flow and every answer is recorded in ScriptedConnection's format.
// Usage: fuzz_seed_card CORPUS_DIR (writes CORPUS_DIR/card_responses/, CORPUS_DIR/token_info/).
#include "card_flow.hpp"
#include "scripted_connection.hpp"

#include <jpki/vcard/card.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

class RecordingConnection : public jpki::transport::Connection {
public:
    explicit RecordingConnection(jpki::vcard::Card& card) : card_(card) {}
    jpki::Bytes transmit(std::span<const std::uint8_t> command) override {
        jpki::Bytes answer = card_.process(command);
        jpki::fuzz::append_record(script, answer);
        return answer;
    }
    void begin_transaction() override {}
    void end_transaction() noexcept override {}
    void reconnect() override {}
    void reset_card() override {}
    [[nodiscard]] jpki::Bytes atr() const override { return card_.atr(); }

    jpki::Bytes script;

private:
    jpki::vcard::Card& card_;
};

void write(const std::filesystem::path& path, const jpki::Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

jpki::vcard::CardConfig seed_card_config() {
    jpki::vcard::CardConfig config;
    config.pss = true;
    return config;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seed_card CORPUS_DIR\n");
        return 2;
    }
    try {
        const std::filesystem::path root(argv[1]);
        std::filesystem::create_directories(root / "card_responses");
        std::filesystem::create_directories(root / "token_info");
        for (std::size_t first = 0; first < jpki::fuzz::op_count; ++first) {
            jpki::vcard::Card card(seed_card_config());
            card.power_on();
            RecordingConnection connection(card);
            jpki::card::JpkiApplet applet(connection);
            for (std::size_t i = first; i < jpki::fuzz::op_count; ++i) {
                try {
                    (void)jpki::fuzz::run_op(applet, static_cast<jpki::fuzz::Op>(i));
                } catch (const std::exception&) {
                    // e.g. a signature before the login: the card's refusal is a seed too
                }
            }
            jpki::Bytes seed{static_cast<std::uint8_t>(first)};
            seed.insert(seed.end(), connection.script.begin(), connection.script.end());
            char name[32];
            std::snprintf(name, sizeof name, "flow-%02zu", first);
            write(root / "card_responses" / name, seed);
        }
        // fuzz_token_info: byte 0 (0: EF 0006, 1: EF 0008), byte 1 (EF 0001 present), answer.
        jpki::vcard::Card card(seed_card_config());
        card.power_on();
        const auto answer = [&](std::initializer_list<std::uint8_t> command) {
            return card.process(jpki::Bytes(command));
        };
        answer({0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01});
        answer({0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06});
        jpki::Bytes label{0x00, 0x01};
        const jpki::Bytes label_answer = answer({0x00, 0xB0, 0x00, 0x00, 0x20});
        label.insert(label.end(), label_answer.begin(), label_answer.end());
        write(root / "token_info" / "ef0006-label", label);
        answer({0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x08});
        jpki::Bytes flags{0x01, 0x01};
        const jpki::Bytes flags_answer = answer({0x00, 0xB0, 0x00, 0x00, 0x03});
        flags.insert(flags.end(), flags_answer.begin(), flags_answer.end());
        write(root / "token_info" / "ef0008-flags", flags);
        write(root / "token_info" / "ef0008-no-sign", jpki::Bytes{0x01, 0x00, 0x00, 0x8F, 0x00, 0x90, 0x00});
        write(root / "token_info" / "ef0008-absent", jpki::Bytes{0x01, 0x00, 0x6A, 0x82});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_seed_card: %s\n", e.what());
        return 1;
    }
    return 0;
}
