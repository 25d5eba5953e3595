// In-process transport: mirrors what PC/SC reports for the events docs/design.md §3 maps to
// PKCS#11 answers (removal, reset by another program, transactions, status changes).
#include <jpki/vcard/virtual_readers.hpp>

#include <condition_variable>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace jpki::vcard {

namespace {

struct Slot {
    std::string name;
    std::shared_ptr<Card> card;
    Bytes atr;
    std::uint32_t event_count = 0;
    std::uint64_t insertion = 0;  // bumped per insert and remove: old connections see "removed"
    std::uint64_t resets = 0;     // bumped per reset by another program or by a connection
    std::uint64_t card_resets = 0;  // resets asked for through Connection::reset_card
    std::uint64_t transaction_owner = 0;  // connection id, 0 = none
    std::uint64_t transmitted = 0;
    bool exclusive = false;  // held by another program with SCARD_SHARE_EXCLUSIVE
};

}  // namespace

struct VirtualReaders::Hub {
    std::mutex mutex;
    std::condition_variable changed;  // any slot change, transaction end, cancel
    std::vector<Slot> slots;
    std::uint64_t changes = 0;
    std::uint64_t changes_seen = 0;  // by the last readers() / wait_for_change() == true
    std::uint64_t cancels = 0;
    std::uint64_t next_connection_id = 1;
    bool service_running = true;
    std::uint64_t service_generation = 0;  // bumped when the service stops: old handles die

    void require_service() const {
        if (!service_running) throw transport::ServiceUnavailable("virtual pcscd not running");
    }

    Slot& slot(const std::string& name) {
        for (auto& s : slots) {
            if (s.name == name) return s;
        }
        throw std::invalid_argument("no virtual reader named '" + name + "'");
    }
    void note_change(Slot& s) {
        ++s.event_count;
        ++changes;
        changed.notify_all();
    }
};

namespace {

class VirtualConnection final : public transport::Connection {
public:
    VirtualConnection(std::shared_ptr<VirtualReaders::Hub> hub, std::size_t index, std::uint64_t id)
        : hub_(std::move(hub)), index_(index), id_(id) {
        const Slot& s = hub_->slots[index_];
        insertion_ = s.insertion;
        resets_seen_ = s.resets;
        atr_ = s.atr;
        generation_ = hub_->service_generation;
    }

    ~VirtualConnection() override { end_transaction(); }

    Bytes transmit(std::span<const std::uint8_t> command) override {
        std::shared_ptr<Card> card;
        {
            std::unique_lock lock(hub_->mutex);
            Slot& s = hub_->slots[index_];
            // Another connection's transaction: wait for its end, as SCardTransmit does.
            hub_->changed.wait(lock, [&] {
                return !usable(s) || s.transaction_owner == 0 || s.transaction_owner == id_;
            });
            check(s);
            card = s.card;
            // A reader without extended APDUs: what PcscConnection throws when SCardTransmit
            // fails that way (the card never sees the command; not counted as transmitted).
            if (card->reader_refuses(command)) {
                throw transport::ExtendedLengthRefused(s.name + ": reader refused an extended-length APDU");
            }
            ++s.transmitted;
        }
        return card->process(command);  // outside the hub lock: the card may sleep (latency)
    }

    void begin_transaction() override {
        std::unique_lock lock(hub_->mutex);
        Slot& s = hub_->slots[index_];
        hub_->changed.wait(lock, [&] {
            return !usable(s) || s.transaction_owner == 0 || s.transaction_owner == id_;
        });
        check(s);
        s.transaction_owner = id_;
    }

    void end_transaction() noexcept override {
        std::lock_guard lock(hub_->mutex);
        Slot& s = hub_->slots[index_];
        if (s.transaction_owner == id_) {
            s.transaction_owner = 0;
            hub_->changed.notify_all();
        }
    }

    void reconnect() override {
        std::lock_guard lock(hub_->mutex);
        Slot& s = hub_->slots[index_];
        require_same_service(s);
        if (!s.card || s.insertion != insertion_) throw transport::CardRemoved(s.name + ": card removed");
        resets_seen_ = s.resets;
        atr_ = s.atr;
    }

    void reset_card() override {
        std::shared_ptr<Card> card;
        {
            std::lock_guard lock(hub_->mutex);
            Slot& s = hub_->slots[index_];
            require_same_service(s);
            // A reset already pending on this handle does not matter: this one supersedes it.
            if (!s.card || s.insertion != insertion_) throw transport::CardRemoved(s.name + ": card removed");
            // Every other connection sees the reset on its next exchange; this one does not.
            ++s.resets;
            ++s.card_resets;
            resets_seen_ = s.resets;
            card = s.card;
            atr_ = s.atr;
            hub_->changed.notify_all();
        }
        card->reset();
    }

    Bytes atr() const override { return atr_; }

private:
    bool usable(const Slot& s) const {
        return s.card && s.insertion == insertion_ && s.resets == resets_seen_ &&
               generation_ == hub_->service_generation && hub_->service_running;
    }
    void require_same_service(const Slot& s) const {
        hub_->require_service();
        if (generation_ != hub_->service_generation)
            throw transport::ServiceUnavailable(s.name + ": handle of a pcscd that has gone");
    }
    // Like pcsc-lite, a reset stays reported on this handle until it reconnects.
    void check(const Slot& s) const {
        require_same_service(s);
        if (!s.card || s.insertion != insertion_) throw transport::CardRemoved(s.name + ": card removed");
        if (s.resets != resets_seen_) throw transport::CardReset(s.name + ": card reset by another program");
    }

    std::shared_ptr<VirtualReaders::Hub> hub_;
    std::size_t index_;
    std::uint64_t id_;
    std::uint64_t insertion_ = 0;
    std::uint64_t resets_seen_ = 0;
    std::uint64_t generation_ = 0;
    Bytes atr_;
};

}  // namespace

VirtualReaders::VirtualReaders(std::vector<std::string> reader_names) : hub_(std::make_shared<Hub>()) {
    for (auto& name : reader_names) {
        Slot s;
        s.name = std::move(name);
        hub_->slots.push_back(std::move(s));
    }
}

VirtualReaders::~VirtualReaders() = default;

void VirtualReaders::insert(const std::string& reader, std::shared_ptr<Card> card) {
    if (!card) throw std::invalid_argument("insert: null card");
    std::lock_guard lock(hub_->mutex);
    Slot& s = hub_->slot(reader);
    if (s.card) throw std::logic_error("reader '" + reader + "' already holds a card");
    s.atr = card->power_on();  // the card is not reachable by anyone yet: no lock-order issue
    s.card = std::move(card);
    ++s.insertion;
    hub_->note_change(s);
}

void VirtualReaders::remove(const std::string& reader) {
    std::shared_ptr<Card> card;
    {
        std::lock_guard lock(hub_->mutex);
        Slot& s = hub_->slot(reader);
        if (!s.card) return;
        card = std::move(s.card);
        s.card.reset();
        s.atr.clear();
        ++s.insertion;
        s.transaction_owner = 0;
        hub_->note_change(s);
    }
    card->power_off();
}

void VirtualReaders::reset_by_other_program(const std::string& reader) {
    std::shared_ptr<Card> card;
    {
        std::lock_guard lock(hub_->mutex);
        Slot& s = hub_->slot(reader);
        if (!s.card) throw std::logic_error("reset_by_other_program: reader '" + reader + "' is empty");
        card = s.card;
        // As pcsc-lite 1.9.9 does: a reset by another program changes neither the reader's
        // event counter nor wakes SCardGetStatusChange; connections learn it from
        // SCARD_W_RESET_CARD on their next exchange.
        ++s.resets;
    }
    card->reset();
}

std::shared_ptr<Card> VirtualReaders::card(const std::string& reader) const {
    std::lock_guard lock(hub_->mutex);
    return hub_->slot(reader).card;
}

std::uint64_t VirtualReaders::card_resets(const std::string& reader) const {
    std::lock_guard lock(hub_->mutex);
    return hub_->slot(reader).card_resets;
}

std::uint64_t VirtualReaders::transmitted(const std::string& reader) const {
    std::lock_guard lock(hub_->mutex);
    return hub_->slot(reader).transmitted;
}

void VirtualReaders::hold_exclusive(const std::string& reader, bool held) {
    std::lock_guard lock(hub_->mutex);
    // Like pcsc-lite, no event: only the sharing bits of the reader state change.
    hub_->slot(reader).exclusive = held;
}

void VirtualReaders::set_service_running(bool running) {
    std::lock_guard lock(hub_->mutex);
    if (hub_->service_running == running) return;
    hub_->service_running = running;
    if (!running) {
        ++hub_->service_generation;
        for (auto& s : hub_->slots) {
            s.transaction_owner = 0;
            ++s.event_count;  // a new pcscd starts its counters afresh: never equal to the old
        }
    }
    ++hub_->changes;
    hub_->changed.notify_all();
}

std::vector<transport::ReaderStatus> VirtualReaders::readers() {
    std::lock_guard lock(hub_->mutex);
    hub_->require_service();
    std::vector<transport::ReaderStatus> out;
    for (const auto& s : hub_->slots) {
        out.push_back({s.name, s.card != nullptr, s.atr, s.event_count});
    }
    hub_->changes_seen = hub_->changes;
    return out;
}

std::unique_ptr<transport::Connection> VirtualReaders::connect(const std::string& reader) {
    std::lock_guard lock(hub_->mutex);
    hub_->require_service();
    std::size_t index = hub_->slots.size();
    for (std::size_t i = 0; i < hub_->slots.size(); ++i) {
        if (hub_->slots[i].name == reader) index = i;
    }
    if (index == hub_->slots.size()) throw transport::ServiceUnavailable("no reader named '" + reader + "'");
    if (!hub_->slots[index].card) throw transport::CardRemoved(reader + ": no card");
    if (hub_->slots[index].exclusive)
        throw transport::Error(reader + ": Sharing violation (another program holds the card exclusively)");
    return std::make_unique<VirtualConnection>(hub_, index, hub_->next_connection_id++);
}

bool VirtualReaders::wait_for_change(std::chrono::milliseconds timeout) {
    std::unique_lock lock(hub_->mutex);
    hub_->require_service();
    const std::uint64_t cancels = hub_->cancels;
    const auto done = [&] { return hub_->changes != hub_->changes_seen || hub_->cancels != cancels; };
    // Very long timeouts mean "forever"; wait_for would overflow the clock.
    if (timeout >= std::chrono::hours(24 * 365)) {
        hub_->changed.wait(lock, done);
    } else {
        hub_->changed.wait_for(lock, timeout, done);
    }
    if (hub_->cancels != cancels) return false;
    if (hub_->changes == hub_->changes_seen) return false;
    hub_->changes_seen = hub_->changes;
    return true;
}

void VirtualReaders::cancel_wait() {
    std::lock_guard lock(hub_->mutex);
    ++hub_->cancels;
    hub_->changed.notify_all();
}

}  // namespace jpki::vcard
