extension Duration {
    /// This duration in seconds, fractions included: for log fields and messages that give seconds.
    package var secondsValue: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }

    /// This duration as a message gives it: whole seconds as `120`, others as `0.001` (never rounded to `0`).
    package var secondsText: String {
        let seconds = self.secondsValue
        return seconds == seconds.rounded() && seconds < 1e15 ? "\(Int(seconds))" : "\(seconds)"
    }
}
