import Synchronization

/// A configuration value as written in `porter.toml` (handler and module options), independent of the parser.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .bool(let b): "\(b)"
        case .array(let a): "[\(a.map(\.description).joined(separator: ", "))]"
        case .table(let t): "{\(t.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", "))}"
        }
    }

    /// The value as a string (numbers and booleans are converted).
    public var string: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        default: nil
        }
    }

    /// The value as an integer (strings of digits are converted).
    public var int: Int? {
        switch self {
        case .int(let i): i
        case .string(let s): Int(s)
        case .double(let d) where d == d.rounded(): Int(d)
        default: nil
        }
    }

    /// The value as a double.
    public var double: Double? {
        switch self {
        case .double(let d): d
        case .int(let i): Double(i)
        case .string(let s): Double(s)
        default: nil
        }
    }

    /// The value as a boolean.
    public var bool: Bool? {
        switch self {
        case .bool(let b): b
        case .string(let s): ["true", "yes", "on", "1"].contains(s.lowercased()) ? true : (["false", "no", "off", "0"].contains(s.lowercased()) ? false : nil)
        default: nil
        }
    }

    /// The value as an array.
    public var array: [ConfigValue]? { if case .array(let a) = self { a } else { nil } }
    /// The value as a table.
    public var table: [String: ConfigValue]? { if case .table(let t) = self { t } else { nil } }
}

/// The options given to a handler or module in the configuration, with typed accessors that explain bad values.
public struct Options: Sendable, Equatable {
    /// The raw values (reading them here does not count as using them; see `value(_:)`).
    public var values: [String: ConfigValue]
    /// Where these options came from, for error messages (e.g. `handlers[2] (rss)`).
    public var origin: String
    /// The keys read so far through the accessors (shared by copies), so misspelled keys can be reported.
    private let usage: OptionUsage

    /// Options from a table.
    public init(_ values: [String: ConfigValue] = [:], origin: String = "options") {
        self.values = values
        self.origin = origin
        self.usage = OptionUsage()
    }

    public static func == (a: Options, b: Options) -> Bool { a.values == b.values && a.origin == b.origin }

    /// The raw value for `key`, if given, counted as used.
    public func value(_ key: String) -> ConfigValue? {
        usage.mark(key)
        return values[key]
    }

    /// Keys that were given but that no builder read: misspellings, or options the component does not have.
    public var unusedKeys: [String] { values.keys.filter { !usage.contains($0) }.sorted() }

    /// The keys read so far, sorted.
    public var usedKeys: [String] { usage.all }

    /// A string option, or `defaultValue` when absent.
    public func string(_ key: String, default defaultValue: String) throws(ConfigurationError) -> String {
        try string(key) ?? defaultValue
    }

    /// A string option, or `nil` when absent.
    public func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw ConfigurationError("\(origin): \(key) must be a string, got \(v)") }
        return s
    }

    /// An integer option, or `defaultValue` when absent.
    public func int(_ key: String, default defaultValue: Int) throws(ConfigurationError) -> Int {
        guard let v = value(key) else { return defaultValue }
        guard let i = v.int else { throw ConfigurationError("\(origin): \(key) must be an integer, got \(v)") }
        return i
    }

    /// A floating-point option, or `defaultValue` when absent.
    public func double(_ key: String, default defaultValue: Double) throws(ConfigurationError) -> Double {
        guard let v = value(key) else { return defaultValue }
        guard let d = v.double else { throw ConfigurationError("\(origin): \(key) must be a number, got \(v)") }
        return d
    }

    /// A boolean option, or `defaultValue` when absent.
    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let v = value(key) else { return defaultValue }
        guard let b = v.bool else { throw ConfigurationError("\(origin): \(key) must be true or false, got \(v)") }
        return b
    }

    /// A list of strings (a single string counts as a one-element list), or `defaultValue` when absent.
    public func strings(_ key: String, default defaultValue: [String]) throws(ConfigurationError) -> [String] {
        guard let v = value(key) else { return defaultValue }
        if let s = v.string { return [s] }
        guard let a = v.array else { throw ConfigurationError("\(origin): \(key) must be a list of strings, got \(v)") }
        var out: [String] = []
        for item in a {
            guard let s = item.string else { throw ConfigurationError("\(origin): \(key) must be a list of strings, got \(v)") }
            out.append(s)
        }
        return out
    }

    /// A nested table option, empty when absent.
    public func table(_ key: String) throws(ConfigurationError) -> Options {
        guard let v = value(key) else { return Options(origin: "\(origin).\(key)") }
        guard let t = v.table else { throw ConfigurationError("\(origin): \(key) must be a table, got \(v)") }
        return Options(t, origin: "\(origin).\(key)")
    }
}

/// Which option keys a builder read.
final class OptionUsage: Sendable {
    private let keys = Mutex<Set<String>>([])
    func mark(_ key: String) { _ = keys.withLock { $0.insert(key) } }
    func contains(_ key: String) -> Bool { keys.withLock { $0.contains(key) } }
    var all: [String] { keys.withLock { $0.sorted() } }
}

/// A configuration mistake, with a message that says where and what.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
