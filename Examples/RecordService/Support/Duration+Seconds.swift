extension Duration {
    /// This duration in seconds, fractions included: for log fields and messages that give seconds.
    var secondsValue: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
