extension Duration {
    /// The duration in seconds, for timings and throughput.
    package var inSeconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
