extension String {
    /// Calls `body` with the string's UTF-8 bytes, borrowed in place: the one way Porter reads a string's bytes on a
    /// hot path (a `var` copy to call `withUTF8` retains and releases every long string; a small string's bytes are
    /// copied to the stack either way).
    @inlinable
    public func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return try copy.withUTF8(body)
    }
}
