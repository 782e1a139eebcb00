// Shared by every fuzz target (compiled into each target's module).

/// Stops the fuzzer with a message: libFuzzer records the input as a crash.
func violated(_ message: @autoclosure () -> String) -> Never {
    fatalError("fuzz invariant violated: \(message())")
}

/// Reads the input as a cursor of small numbers (chunk sizes, limits) taken from its front.
struct FuzzInput {
    var bytes: UnsafeRawBufferPointer
    /// Takes one byte from the front (0 when empty).
    mutating func byte() -> UInt8 {
        guard let first = bytes.first else { return 0 }
        bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        return first
    }
}
