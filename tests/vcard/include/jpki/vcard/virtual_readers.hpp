// An in-process transport::Transport: named readers into which tests insert virtual cards,
// and the PC/SC events tests need to provoke (removal, reset by another program).
#pragma once

#include <jpki/transport.hpp>
#include <jpki/vcard/card.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jpki::vcard {

class VirtualReaders final : public transport::Transport {
public:
    static constexpr const char* default_reader = "Virtual PCD 00 00";

    explicit VirtualReaders(std::vector<std::string> reader_names = {default_reader});
    ~VirtualReaders() override;

    // Test controls. insert and remove bump the reader's event_count and wake wait_for_change.
    // insert powers the card on; throws std::logic_error when the reader already holds one.
    void insert(const std::string& reader, std::shared_ptr<Card> card);
    // Powers the card off; existing connections then throw CardRemoved. No-op when empty.
    void remove(const std::string& reader);
    // Another program reset the card: its security state is gone and every existing
    // connection's transmit/begin_transaction throws CardReset until it calls reconnect().
    void reset_by_other_program(const std::string& reader);
    std::shared_ptr<Card> card(const std::string& reader) const;
    // Another program holds the card with SCARD_SHARE_EXCLUSIVE (GnuPG's scdaemon does):
    // connect() to that reader fails with a transport::Error, as SCARD_E_SHARING_VIOLATION does.
    void hold_exclusive(const std::string& reader, bool held);
    // pcscd stopped (false) or back (true): while stopped, readers(), connect(),
    // wait_for_change() and every existing connection throw ServiceUnavailable; when it comes
    // back, old connections stay dead (a new pcscd does not know their handles) and every
    // reader's event counter has moved on.
    void set_service_running(bool running);
    // How many times a connection reset the card (Connection::reset_card).
    std::uint64_t card_resets(const std::string& reader) const;
    // APDUs transmitted through this reader since construction (all connections).
    std::uint64_t transmitted(const std::string& reader) const;

    // transport::Transport
    std::vector<transport::ReaderStatus> readers() override;
    std::unique_ptr<transport::Connection> connect(const std::string& reader) override;
    // Returns true at once when something changed since the last readers() or
    // wait_for_change() that returned true (as SCardGetStatusChange does with the states the
    // caller last saw); otherwise waits for a change, the timeout, or cancel_wait().
    bool wait_for_change(std::chrono::milliseconds timeout) override;
    void cancel_wait() override;

    struct Hub;  // shared with the connections, which may outlive this object

private:
    std::shared_ptr<Hub> hub_;
};

}  // namespace jpki::vcard
