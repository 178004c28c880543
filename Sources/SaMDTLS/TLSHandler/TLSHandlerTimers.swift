import NIOCore

/// The four timers of one TLS connection and their deadlines on the event loop's clock: the handshake's,
/// the connection's maximum age, the idle timer, and the close timer (waiting for the peer's close_notify, or
/// draining the peer's bytes after a fatal alert — never both at once).
///
/// A value type kept by ``TLSHandlerStateMachine``: arming a timer records its deadline, and a timer that
/// fires after it was disarmed (or re-armed) is recognised and ignored.
struct TLSHandlerTimers {
    enum Timer: Hashable, CaseIterable, Sendable {
        /// ``TLSConfiguration/handshakeTimeout`` from the start of the handshake.
        case handshake
        /// ``TLSConfiguration/maximumConnectionAge`` from the end of the handshake.
        case maximumAge
        /// ``TLSConfiguration/idleTimeout`` from the last byte in either direction.
        case idle
        /// ``TLSConfiguration/closeTimeout`` from our close_notify or fatal alert.
        case close
    }

    let handshakeTimeout: TimeAmount
    let maximumConnectionAge: TimeAmount?
    let idleTimeout: TimeAmount?
    let closeTimeout: TimeAmount
    /// One optional value per timer, kept inline: no allocation per connection.
    struct PerTimer<Value> {
        private var handshake, maximumAge, idle, close: Value?

        init() {}

        subscript(timer: Timer) -> Value? {
            get {
                switch timer {
                case .handshake: self.handshake
                case .maximumAge: self.maximumAge
                case .idle: self.idle
                case .close: self.close
                }
            }
            set {
                switch timer {
                case .handshake: self.handshake = newValue
                case .maximumAge: self.maximumAge = newValue
                case .idle: self.idle = newValue
                case .close: self.close = newValue
                }
            }
        }
    }

    /// The deadline of each armed timer.
    private(set) var deadlines = PerTimer<NIODeadline>()
    /// When a byte last went in either direction (for the idle timer).
    var lastActivity = NIODeadline.uptimeNanoseconds(0)

    init(
        handshakeTimeout: TimeAmount, maximumConnectionAge: TimeAmount?, idleTimeout: TimeAmount?,
        closeTimeout: TimeAmount
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.maximumConnectionAge = maximumConnectionAge
        self.idleTimeout = idleTimeout
        self.closeTimeout = closeTimeout
    }

    init(configuration: TLSConfiguration) {
        self.init(
            handshakeTimeout: TimeAmount(configuration.handshakeTimeout),
            maximumConnectionAge: configuration.maximumConnectionAge.map(TimeAmount.init),
            idleTimeout: configuration.idleTimeout.map(TimeAmount.init),
            closeTimeout: TimeAmount(configuration.closeTimeout)
        )
    }

    /// The time `timer` runs for once armed; `nil` for a timer that is not configured.
    func timeout(of timer: Timer) -> TimeAmount? {
        switch timer {
        case .handshake: self.handshakeTimeout
        case .maximumAge: self.maximumConnectionAge
        case .idle: self.idleTimeout
        case .close: self.closeTimeout
        }
    }

    /// Arms `timer` to fire at `deadline`, replacing any earlier deadline.
    mutating func arm(_ timer: Timer, at deadline: NIODeadline) {
        self.deadlines[timer] = deadline
    }

    /// Disarms `timer`. - Returns: whether it was armed.
    mutating func disarm(_ timer: Timer) -> Bool {
        defer { self.deadlines[timer] = nil }
        return self.deadlines[timer] != nil
    }

    /// Disarms every timer. - Returns: those that were armed, in declaration order.
    mutating func disarmAll() -> [Timer] {
        let armed = Timer.allCases.filter { self.deadlines[$0] != nil }
        self.deadlines = PerTimer()
        return armed
    }

    /// Records that `timer` fired. - Returns: `false` when it was not armed (disarmed after its task ran, or a
    /// stale task): the firing must be ignored.
    mutating func fire(_ timer: Timer) -> Bool {
        self.disarm(timer)
    }

    /// When the connection becomes idle: ``lastActivity`` plus ``idleTimeout``.
    var idleDeadline: NIODeadline? {
        self.idleTimeout.map { self.lastActivity + $0 }
    }
}
