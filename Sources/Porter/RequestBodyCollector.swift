#if canImport(Glibc)
import Glibc
#endif

/// Collects a request body while the transport reads it: in memory up to `spillThreshold` bytes, then in an
/// unlinked temporary file in `temporaryDirectory` (so large uploads never live whole in memory).
public struct RequestBodyCollector: Sendable {
    /// The default spill threshold: 64 KiB.
    public static let defaultSpillThreshold = 64 * 1024
    /// `$TMPDIR` when set, else `/tmp`.
    public static var defaultTemporaryDirectory: String {
        if let dir = getenv("TMPDIR").map({ String(cString: $0) }), !dir.isEmpty { return dir }
        return "/tmp"
    }

    /// Bodies larger than this many bytes go to a temporary file.
    public let spillThreshold: Int
    /// Where temporary files are created.
    public let temporaryDirectory: String
    /// Bytes collected so far.
    public private(set) var count = 0
    private var memory: [UInt8] = []
    private var file: SpilledBodyFile?

    /// A collector; `expectedLength` (e.g. CONTENT_LENGTH) reserves memory for bodies that stay in memory.
    public init(spillThreshold: Int = RequestBodyCollector.defaultSpillThreshold,
                temporaryDirectory: String = RequestBodyCollector.defaultTemporaryDirectory, expectedLength: Int = 0) {
        self.spillThreshold = max(0, spillThreshold)
        self.temporaryDirectory = temporaryDirectory
        if expectedLength > 0 && expectedLength <= self.spillThreshold { memory.reserveCapacity(expectedLength) }
    }

    /// Whether the body has moved to a temporary file.
    public var hasSpilled: Bool { file != nil }

    /// Appends the next bytes of the body, spilling to a file when the threshold is passed.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(RequestBodyError) {
        guard !bytes.isEmpty else { return }
        if let file {
            try file.append(bytes)
        } else if memory.count + bytes.count > spillThreshold {
            let file = try SpilledBodyFile.create(in: temporaryDirectory)
            try Self.append(memory, to: file)
            try file.append(bytes)
            memory = []
            self.file = file
        } else {
            memory.append(contentsOf: bytes)
        }
        count += bytes.count
    }

    /// Appends bytes (convenience for tests and small inputs).
    public mutating func append(_ bytes: [UInt8]) throws(RequestBodyError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(RequestBodyError) in try append(raw) } }
        try result.get()
    }

    private static func append(_ bytes: [UInt8], to file: SpilledBodyFile) throws(RequestBodyError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(RequestBodyError) in try file.append(raw) } }.get()
    }

    /// The collected body.
    public func finish() -> RequestBody {
        if let file { return RequestBody(file: file, count: count) }
        return RequestBody(memory)
    }
}
