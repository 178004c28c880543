package import Foundation

// Durations as the seconds Foundation and SQLite take, and `keystore.json` keeps. `duration / .seconds(1)` is
// not exact (864 000 s gives 864 000.000 000 000 1), and `Duration.seconds(_: Double)` is not either: whole
// seconds must stay whole, or a stored cryptoperiod would change each time the store is written.
extension Duration {
    /// The duration in seconds: exact for whole seconds, the fraction to a `Double`'s precision.
    package var timeInterval: TimeInterval {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// A duration of `timeInterval` seconds, whole seconds exactly; `nil` unless it is finite and of magnitude
    /// under 2^63 seconds.
    package init?(timeInterval: TimeInterval) {
        guard timeInterval.isFinite, timeInterval.magnitude < 0x1p63 else { return nil }
        let whole = timeInterval.rounded(.towardZero)
        self.init(
            secondsComponent: Int64(whole), attosecondsComponent: Int64(((timeInterval - whole) * 1e18).rounded()))
    }
}
