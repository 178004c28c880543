import Synchronization

/// This process's copy of the generations of the key store's rows (``PostgresKeyPersistence``): the metadata's and
/// up to ``capacity`` subjects', so that the revisions the data path asks at every use cost no round trip.
///
/// Trusted only while the listener is connected and listening (`LISTEN samd_keys`): every committed write then
/// reaches it as a notification, which makes it forget what the write changed (the next use reads it again). Whenever the listener starts or stops listening the mirror is
/// emptied and a new *epoch* begins; while it does not listen, nothing is answered from it.
///
/// Filled by this process's reads and writes — but only with what cannot be older than what a notification
/// already told: a read's value is kept when the listener was listening before the read was sent and still is
/// (same epoch), and either the name already has an entry (the larger generation wins: a row's generation only
/// grows, each write taking `nextval` after locking the row) or no notification at all arrived since the read was
/// sent (one about that name might have been dropped while it had no entry). A fill refused costs the next use one
/// round trip, never a stale answer.
final class KeyGenerationMirror: Sendable {
    /// What a lookup found.
    enum Lookup: Equatable {
        /// The generation the database holds, as far as the notifications received tell (0: no row).
        case known(Int64)
        /// Not known here: ask the database, then ``fill`` with this ticket.
        case unknown(Ticket?)
    }

    /// When a read was sent: the epoch, and how many notifications the mirror had applied. `nil` while the
    /// listener does not listen (the read's value is not kept).
    struct Ticket: Equatable {
        let epoch: UInt64
        let notifications: UInt64
    }

    private struct State {
        var listening = false
        var epoch: UInt64 = 0
        var notifications: UInt64 = 0
        var metadata: Int64?
        var subjects: [String: Int64] = [:]
    }

    /// The most subject entries held; when full, the mirror is emptied of subjects (they are filled again by
    /// the next reads).
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Whether the listener listens (answers come from here).
    var isListening: Bool { self.state.withLock { $0.listening } }

    /// The listener listens from now on: a new epoch, empty.
    func listenerStarted() {
        self.state.withLock { state in
            state.listening = true
            state.epoch += 1
            state.metadata = nil
            state.subjects = [:]
        }
    }

    /// The listener stopped listening (connection lost, or closed): a new epoch, empty and not trusted.
    func listenerStopped() {
        self.state.withLock { state in
            state.listening = false
            state.epoch += 1
            state.metadata = nil
            state.subjects = [:]
        }
    }

    /// The metadata's generation, if known.
    func lookupMetadata() -> Lookup {
        self.state.withLock { state in
            guard state.listening else { return .unknown(nil) }
            if let metadata = state.metadata { return .known(metadata) }
            return .unknown(Ticket(epoch: state.epoch, notifications: state.notifications))
        }
    }

    /// The generation of subject `name`'s row (0: none), if known.
    func lookupSubject(_ name: String) -> Lookup {
        self.state.withLock { state in
            guard state.listening else { return .unknown(nil) }
            if let generation = state.subjects[name] { return .known(generation) }
            return .unknown(Ticket(epoch: state.epoch, notifications: state.notifications))
        }
    }

    /// A ticket for a read or write sent now (`nil` while not listening).
    func ticket() -> Ticket? {
        self.state.withLock { state in
            state.listening ? Ticket(epoch: state.epoch, notifications: state.notifications) : nil
        }
    }

    /// Keeps the metadata's generation read (or written) with `ticket`, when it can be trusted (see above).
    func fillMetadata(_ generation: Int64, ticket: Ticket?) {
        self.state.withLock { state in
            guard let ticket, state.listening, state.epoch == ticket.epoch else { return }
            if let known = state.metadata {
                state.metadata = max(known, generation)
            } else if state.notifications == ticket.notifications {
                state.metadata = generation
            }
        }
    }

    /// Keeps the generation of subject `name`'s row (0: none) read or written with `ticket`, when it can be trusted.
    func fillSubject(_ name: String, _ generation: Int64, ticket: Ticket?) {
        self.state.withLock { state in
            guard let ticket, state.listening, state.epoch == ticket.epoch else { return }
            if let known = state.subjects[name] {
                state.subjects[name] = max(known, generation)
            } else if state.notifications == ticket.notifications {
                if state.subjects.count >= self.capacity { state.subjects = [:] }
                state.subjects[name] = generation
            }
        }
    }

    /// Applies one notification's payload (``KeyNotification``): it only *forgets* — the metadata's generation, and
    /// the entries of the subjects it names — so that their next use reads the database. A generation is never taken
    /// from a notification: any role that can connect can notify, and a forged generation kept here made every
    /// write of that subject fail its commit's check (found by the hostile trial).
    func apply(_ notification: KeyNotification) {
        self.state.withLock { state in
            guard state.listening else { return }
            state.notifications += 1
            if notification.metadata != nil { state.metadata = nil }
            for (name, _) in notification.subjects { state.subjects[name] = nil }
        }
    }
}

/// The payload of a notification on the channel `samd_keys`: entries separated by one space, each `m:<generation>`
/// (the metadata was written) or `s:<name>:<generation>` (subject `name` was written); several subjects may share
/// one notification, whose payload stays under 8 000 bytes (PostgreSQL's limit). Generations are decimal.
struct KeyNotification {
    /// The channel.
    static let channel = "samd_keys"
    /// Subjects per notification at most: each entry is at most 57 bytes (`s:`, 34, `:`, 19 digits, a space).
    static let subjectsPerNotification = 100

    var metadata: Int64?
    var subjects: [(String, Int64)]

    /// Parses a payload; entries that do not parse are skipped. Any role that can connect to the database can
    /// notify on the channel: a forged payload can only make this process ask the database again (slower) — the
    /// mirror forgets what a notification names and never keeps a generation it tells.
    init(payload: String) {
        self.metadata = nil
        self.subjects = []
        for entry in payload.split(separator: " ", omittingEmptySubsequences: true).prefix(1000) {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, parts[0] == "m", let generation = Int64(parts[1]), generation > 0 {
                self.metadata = max(self.metadata ?? 0, generation)
            } else if parts.count == 3, parts[0] == "s", let generation = Int64(parts[2]), generation > 0,
                PostgresKeyPersistence.isSubjectName(parts[1])
            {
                self.subjects.append((String(parts[1]), generation))
            }
        }
    }
}
