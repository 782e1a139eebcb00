/// An ordered list of HTTP header fields with case-insensitive lookup; repeated names are kept.
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields in insertion order, names as given.
    public private(set) var fields: [(name: String, value: String)] = []

    /// An empty header list.
    public init() {}

    /// A header list from literal pairs.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// A header list from ordered name-value pairs.
    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name, value) }
    }

    /// The first value for `name` (case-insensitive); setting replaces every field of that name, `nil` removes them.
    public subscript(name: String) -> String? {
        get {
            // By index: an unoptimised build boxes each (name, value) element a `for in` yields.
            for i in fields.indices where fields[i].name.equalsIgnoringASCIICase(name) { return fields[i].value }
            return nil
        }
        set {
            // Usually the name is not there yet (a response being built): one scan, then an append. By index, so no
            // field is copied (a copy retains and releases each long name and value).
            var found: Int?
            for i in fields.indices where fields[i].name.equalsIgnoringASCIICase(name) {
                found = i
                break
            }
            guard let first = found else {
                if let newValue { add(name, newValue) }
                return
            }
            // Replaced where the first one was; later fields of the same name go.
            fields[(first + 1)...].removeAll { $0.name.equalsIgnoringASCIICase(name) }
            if let newValue { fields[first] = (name, newValue) } else { fields.remove(at: first) }
        }
    }

    /// All values for `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }

    /// Appends a field, keeping existing fields of the same name.
    public mutating func add(_ name: String, _ value: String) {
        // A response gets several fields one by one: room for 8 at once rather than growing 1, 2, 4, 8.
        if fields.capacity == 0 { fields.reserveCapacity(8) }
        fields.append((name, value))
    }

    /// Makes room for `count` fields (one allocation when building a request's headers).
    mutating func reserveCapacity(_ count: Int) {
        fields.reserveCapacity(count)
    }

    /// Removes every field named `name`.
    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.equalsIgnoringASCIICase(name) }
    }

    /// Whether a field named `name` exists.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// The number of fields.
    public var count: Int { fields.count }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Equal when the same fields (names as given) appear in the same order.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Hashes the fields in order.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields.count)
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

extension String {
    /// ASCII case-insensitive equality, without allocating.
    @inlinable
    public func equalsIgnoringASCIICase(_ other: String) -> Bool {
        // Lengths first (constant time for native strings): most names compared differ in length.
        guard utf8.count == other.utf8.count else { return false }
        return withUTF8Bytes { x in other.withUTF8Bytes { y in String.asciiCaseInsensitiveEqual(x, y, count: x.count) } }
    }

    /// Whether the first `count` bytes of `x` and `y` are equal with ASCII letters folded (other bytes exactly).
    @inlinable
    static func asciiCaseInsensitiveEqual(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>, count: Int) -> Bool {
        for i in 0..<count where x[i] != y[i] && x[i].asciiLowercased != y[i].asciiLowercased { return false }
        return true
    }
}

extension UInt8 {
    /// The byte with an ASCII capital letter folded to lower case; every other byte as it is.
    @inlinable var asciiLowercased: UInt8 { self &- 65 < 26 ? self | 0x20 : self }
}
