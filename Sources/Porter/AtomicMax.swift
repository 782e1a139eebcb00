import Synchronization

extension Atomic where Value == Int {
    /// Raises the stored value to `candidate` if it is larger (a high-water mark), without a lock.
    public func raiseMax(to candidate: Int) {
        var seen = load(ordering: .relaxed)
        while candidate > seen {
            let (exchanged, original) = compareExchange(expected: seen, desired: candidate, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }
}
