import Porter

extension ApplicationState {
    /// Stores `make()` under `key` unless something is already stored there, and returns what is stored.
    func publishIfAbsent<T: Sendable>(_ key: String, as type: T.Type = T.self, _ make: () -> T) -> T {
        update { dict in
            if let existing = dict[key] as? T { return existing }
            let made = make()
            dict[key] = made
            return made
        }
    }
}
