public import Porter

/// Byte sizes as nginx writes them: `1048576`, `512k`, `16m`, `1g` (case-insensitive; `0` means no body at all).
public enum ByteSize {
    /// Parses `16m`, `512k`, `1g`, or a plain number of bytes; nil for anything else (negative, overflow, junk).
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.lowercased()
        guard let last = trimmed.last else { return nil }
        let shift: Int
        var digits = Substring(trimmed)
        switch last {
        case "k": shift = 10; digits = digits.dropLast()
        case "m": shift = 20; digits = digits.dropLast()
        case "g": shift = 30; digits = digits.dropLast()
        default: shift = 0
        }
        guard !digits.isEmpty, digits.utf8.count <= 12, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let value = Int(digits) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : bytes
    }

    /// A size option (counted as used): an integer number of bytes or a string such as `"16m"`; nil when absent.
    public static func option(_ key: String, in options: Options) throws(ConfigurationError) -> Int? {
        guard let value = options.value(key) else { return nil }
        if case .int(let bytes) = value, bytes >= 0 { return bytes }
        if case .string(let text) = value, let bytes = parse(text) { return bytes }
        throw ConfigurationError("\(options.origin): \(key) must be a size such as \"512k\", \"16m\" or a number of bytes, got \(value)")
    }

    /// nginx's spelling of `bytes` (`16m`, `512k`, else the number).
    public static func nginx(_ bytes: Int) -> String {
        if bytes > 0 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)m" }
        if bytes > 0 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)k" }
        return "\(bytes)"
    }
}
