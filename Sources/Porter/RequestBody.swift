#if canImport(Glibc)
import Glibc
#endif

/// A request body: bytes in memory (small bodies), or an unlinked temporary file the transport spilled a large
/// body to while reading it. A spilled body's file is closed when the request ends; copy what you need to keep.
public struct RequestBody: Sendable {
    /// Where the bytes live.
    public enum Storage: Sendable, Equatable {
        /// In memory.
        case memory
        /// In an unlinked temporary file.
        case file
    }

    enum Content: Sendable {
        case memory([UInt8])
        case file(SpilledBodyFile)
    }

    let content: Content
    /// The body's length in bytes.
    public let count: Int

    /// No body.
    public static let empty = RequestBody([])

    /// A body held in memory.
    public init(_ bytes: [UInt8]) {
        content = .memory(bytes)
        count = bytes.count
    }

    init(file: SpilledBodyFile, count: Int) {
        content = .file(file)
        self.count = count
    }

    /// Where the bytes live.
    public var storage: Storage {
        if case .file = content { return .file }
        return .memory
    }

    /// Whether the body is empty.
    public var isEmpty: Bool { count == 0 }

    /// The whole body in memory (read from the file for a spilled body; empty once that file was closed).
    /// Meant for small bodies; stream large ones with `makeReader()` or `chunks(size:)`.
    public var bytes: [UInt8] {
        switch content {
        case .memory(let bytes): bytes
        case .file: (try? readAll()) ?? []
        }
    }

    /// Reads the whole body; throws if a spilled body's file can no longer be read.
    public func readAll() throws(RequestBodyError) -> [UInt8] {
        if case .memory(let bytes) = content { return bytes }
        var reader = makeReader()
        return try reader.read(upTo: count)
    }

    /// A reader positioned at the start of the body.
    public func makeReader() -> RequestBodyReader { RequestBodyReader(body: self) }

    /// The body as an async sequence of chunks of at most `size` bytes.
    public func chunks(size: Int = 64 * 1024) -> RequestBodyChunks { RequestBodyChunks(body: self, size: max(1, size)) }

    /// Closes a spilled body's temporary file now (the transport does this when the request ends); later reads throw.
    public func close() {
        if case .file(let file) = content { file.close() }
    }
}

/// Reads a request body from the start, in pieces; usable from sync and async code.
public struct RequestBodyReader: Sendable {
    let body: RequestBody
    /// Bytes read so far.
    public private(set) var offset = 0

    /// Copies the next bytes into `buffer`; returns how many (0 at the end of the body).
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(RequestBodyError) -> Int {
        let wanted = min(buffer.count, body.count - offset)
        guard wanted > 0, let base = buffer.baseAddress else { return 0 }
        let n: Int
        switch body.content {
        case .memory(let bytes):
            bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress! + offset, byteCount: wanted) }
            n = wanted
        case .file(let file):
            n = try file.read(at: offset, into: UnsafeMutableRawBufferPointer(start: base, count: wanted))
            guard n > 0 else { throw .io(operation: "read", errno: EIO) }
        }
        offset += n
        return n
    }

    /// The next bytes, at most `maximum` of them (empty at the end of the body).
    public mutating func read(upTo maximum: Int) throws(RequestBodyError) -> [UInt8] {
        let wanted = min(maximum, body.count - offset)
        guard wanted > 0 else { return [] }
        var chunk = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let n = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(RequestBodyError) -> Int in try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...])) }
            }
            filled += try n.get()
        }
        return chunk
    }
}

/// A request body as chunks: `for try await chunk in request.body.chunks() { … }`.
public struct RequestBodyChunks: AsyncSequence, Sendable {
    /// A chunk of the body.
    public typealias Element = [UInt8]
    let body: RequestBody
    let size: Int

    /// An iterator from the start of the body.
    public func makeAsyncIterator() -> Iterator { Iterator(reader: body.makeReader(), size: size) }

    /// Yields the body chunk by chunk.
    public struct Iterator: AsyncIteratorProtocol {
        var reader: RequestBodyReader
        let size: Int

        /// The next chunk, or nil at the end.
        public mutating func next() async throws -> [UInt8]? {
            let chunk = try reader.read(upTo: size)
            return chunk.isEmpty ? nil : chunk
        }
    }
}

/// Why a request body could not be collected or read.
public enum RequestBodyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spilled body's file was closed (the request ended).
    case closed
    /// A system call on the temporary file failed.
    case io(operation: String, errno: Int32)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .closed: "request body file already closed (the request ended)"
        case .io(let operation, let code): "request body \(operation): \(String(cString: strerror(code)))"
        }
    }
}
