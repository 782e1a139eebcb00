#if canImport(Glibc)
import Glibc
#endif

/// Per-handler limits for `multipart/form-data` bodies (ASP.NET's `maxRequestLength` family). The total size is the
/// route's body limit (`max_body`), enforced by nginx and the transport before the handler runs.
public struct FormLimits: Sendable, Equatable {
    /// Most file parts (parts with a `filename`) in one request; more → 400.
    public var maxFiles: Int
    /// Most non-file fields in one request (ASP.NET's `MaxHttpCollectionKeys`); more → 400.
    public var maxFields: Int
    /// Largest file part in bytes; nil: only the route's body limit applies. Larger → 413.
    public var maxFileBytes: Int?
    /// Largest non-file field in bytes (fields are held in memory). Larger → 413.
    public var maxFieldBytes: Int
    /// Largest header block of one part. Larger → 400.
    public var maxPartHeaderBytes: Int
    /// File parts larger than this go to an unlinked temporary file instead of memory.
    public var spillThreshold: Int
    /// Where file parts spill to.
    public var temporaryDirectory: String
    /// Whether Porter parses multipart bodies before the handler runs; false leaves `request.body` to the handler.
    public var parsesMultipart: Bool

    /// The defaults: 16 files, 1000 fields, files up to the body limit, fields up to 1 MiB, spill above 64 KiB.
    public init(maxFiles: Int = 16, maxFields: Int = 1000, maxFileBytes: Int? = nil, maxFieldBytes: Int = 1 << 20,
                maxPartHeaderBytes: Int = 16 * 1024, spillThreshold: Int = RequestBodyCollector.defaultSpillThreshold,
                temporaryDirectory: String = RequestBodyCollector.defaultTemporaryDirectory, parsesMultipart: Bool = true) {
        self.maxFiles = maxFiles
        self.maxFields = maxFields
        self.maxFileBytes = maxFileBytes
        self.maxFieldBytes = maxFieldBytes
        self.maxPartHeaderBytes = maxPartHeaderBytes
        self.spillThreshold = spillThreshold
        self.temporaryDirectory = temporaryDirectory
        self.parsesMultipart = parsesMultipart
    }
}

/// One uploaded file of a `multipart/form-data` request (ASP.NET's `HttpPostedFile`). Large files live in an
/// unlinked temporary file that is closed when the request ends: read, stream or `save(to:)` it in the handler.
public struct UploadedFile: Sendable {
    /// The form field's name.
    public let field: String
    /// The client's file name made safe: no directories, no control or bidi characters, no leading dots, at most
    /// 255 bytes (may be empty).
    public let filename: String
    /// The file name exactly as the client sent it (decoded as UTF-8); never use it as a path.
    public let unsafeFilename: String
    /// The part's `Content-Type` (`application/octet-stream` when the client sent none).
    public let contentType: String
    /// The content: read it with `bytes`, `makeReader()` or `chunks()`.
    public let content: RequestBody

    /// The size in bytes.
    public var size: Int { content.count }

    /// Copies the content to a new file at `path` (created with `mode`; fails if it exists).
    public func save(to path: String, mode: mode_t = 0o600) throws(RequestBodyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(operation: "create \(path)", errno: errno) }
        defer { _ = Glibc.close(fd) }
        var reader = content.makeReader()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try buffer.withUnsafeMutableBytes { raw in Result { () throws(RequestBodyError) -> Int in try reader.read(into: raw) } }.get()
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, n - done) }
                if w > 0 { done += w } else if w < 0 && errno == EINTR { continue } else {
                    throw .io(operation: "write \(path)", errno: w < 0 ? errno : ENOSPC)
                }
            }
        }
    }

    /// Makes a client file name safe to show or to use as one path component (see `filename`).
    public static func sanitize(_ name: String) -> String {
        let last = name.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var out = String.UnicodeScalarView()
        for scalar in last.unicodeScalars {
            if scalar.isInvisibleControl { continue }
            out.append(scalar.value == 0xFFFD ? "_" : scalar)
        }
        var text = String(out)
        while text.first == "." || text.first == " " { text.removeFirst() }
        while text.last == " " || text.last == "." { text.removeLast() }
        while text.utf8.count > 255 { text.removeLast() }
        return text
    }
}

/// Parses `multipart/form-data` bodies as a stream (RFC 7578): fields in memory, files spilled above the limit's
/// threshold; every malformed or oversized input is an `HTTPError` (400 or 413) with a clear message.
public enum MultipartFormParser {
    /// The `boundary` parameter of a `multipart/form-data` content type; 400 when missing or invalid.
    public static func boundary(of contentType: String) throws(HTTPError) -> [UInt8] {
        let params = HeaderParameters.parse(contentType)
        guard let value = params.first(where: { $0.name == "boundary" })?.value, !value.isEmpty else {
            throw HTTPError(.badRequest, message: "multipart/form-data without a boundary")
        }
        guard value.utf8.count <= 70, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F || $0 == 0x20 }) else {
            throw HTTPError(.badRequest, message: "invalid multipart boundary (1 to 70 printable ASCII characters)")
        }
        return Array(value.utf8)
    }

    /// Whether `contentType` is `multipart/form-data`.
    public static func isMultipartForm(_ contentType: String?) -> Bool {
        guard let type = contentType else { return false }
        let media = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces().lowercased() } ?? ""
        return media == "multipart/form-data"
    }

    /// Parses `body` into fields and files.
    public static func parse(_ body: RequestBody, boundary: [UInt8], limits: FormLimits) throws(HTTPError)
        -> (fields: QueryParameters, files: [UploadedFile]) {
        var parser = Parser(delimiter: Array("\r\n--".utf8) + boundary, limits: limits)
        var reader = body.makeReader()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        parser.buffer = [13, 10]            // the first boundary needs no CRLF before it
        while true {
            try parser.process()
            if parser.state == .done { break }
            let result = chunk.withUnsafeMutableBytes { raw in Result { () throws(RequestBodyError) -> Int in try reader.read(into: raw) } }
            let n: Int
            switch result {
            case .success(let count): n = count
            case .failure(let error): throw HTTPError(.badRequest, message: "cannot read the request body: \(error)")
            }
            if n == 0 { throw HTTPError(.badRequest, message: "truncated multipart body (no closing boundary)") }
            parser.compact()
            parser.buffer.append(contentsOf: chunk[0..<n])
        }
        return (parser.fields, parser.files)
    }

    struct Part {
        var name: String
        var filename: String?
        var contentType: String
        var field: [UInt8] = []
        var collector: RequestBodyCollector?
        var size = 0
    }

    enum State { case preamble, afterDelimiter, headers, body, done }

    struct Parser {
        let delimiter: [UInt8]
        let limits: FormLimits
        var buffer: [UInt8] = []
        var start = 0
        var state = State.preamble
        var part: Part?
        var fields = QueryParameters()
        var files: [UploadedFile] = []
        var fieldCount = 0

        init(delimiter: [UInt8], limits: FormLimits) {
            self.delimiter = delimiter
            self.limits = limits
        }

        var available: Int { buffer.count - start }

        mutating func compact() {
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
        }

        /// Index of `needle` in `buffer[start...]`, via memchr/memcmp.
        func find(_ needle: [UInt8]) -> Int? {
            buffer.withUnsafeBytes { raw -> Int? in
                needle.withUnsafeBytes { n -> Int? in
                    guard let base = raw.baseAddress, let nb = n.baseAddress else { return nil }
                    var i = start
                    let last = raw.count - n.count
                    while i <= last {
                        guard let hit = memchr(base + i, Int32(needle[0]), last - i + 1) else { return nil }
                        let at = base.distance(to: UnsafeRawPointer(hit))
                        if memcmp(base + at, nb, n.count) == 0 { return at }
                        i = at + 1
                    }
                    return nil
                }
            }
        }

        /// Consumes what the buffer allows; returns when more input is needed or the closing boundary was seen.
        mutating func process() throws(HTTPError) {
            while true {
                switch state {
                case .done:
                    return
                case .preamble:
                    if let at = find(delimiter) {
                        start = at + delimiter.count
                        state = .afterDelimiter
                    } else {
                        start = max(start, buffer.count - (delimiter.count - 1))
                        return
                    }
                case .afterDelimiter:
                    guard available >= 2 else { return }
                    if buffer[start] == 0x2D && buffer[start + 1] == 0x2D {
                        state = .done
                        return
                    }
                    guard let crlf = find([13, 10]) else {
                        if available > 256 { throw HTTPError(.badRequest, message: "malformed multipart body: a boundary inside the data") }
                        return
                    }
                    guard buffer[start..<crlf].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                        throw HTTPError(.badRequest, message: "malformed multipart body: a boundary inside the data")
                    }
                    start = crlf + 2
                    state = .headers
                case .headers:
                    let end: Int
                    if available >= 2 && buffer[start] == 13 && buffer[start + 1] == 10 {
                        end = start
                    } else if let at = find([13, 10, 13, 10]) {
                        end = at + 2
                    } else {
                        if available > limits.maxPartHeaderBytes {
                            throw HTTPError(.badRequest, message: "multipart part headers larger than \(limits.maxPartHeaderBytes) bytes")
                        }
                        return
                    }
                    guard end - start <= limits.maxPartHeaderBytes else {
                        throw HTTPError(.badRequest, message: "multipart part headers larger than \(limits.maxPartHeaderBytes) bytes")
                    }
                    try beginPart(headers: buffer[start..<end])
                    start = end + 2
                    state = .body
                case .body:
                    if let at = find(delimiter) {
                        try write(at)
                        try finishPart()
                        start = at + delimiter.count
                        state = .afterDelimiter
                    } else {
                        let safe = buffer.count - (delimiter.count - 1)
                        if safe > start { try write(safe) }
                        return
                    }
                }
            }
        }

        mutating func beginPart(headers: ArraySlice<UInt8>) throws(HTTPError) {
            var disposition: String?
            var type = "application/octet-stream"
            var sawType = false
            for line in headers.split(separator: 10) {
                let text = String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
                guard let colon = text.firstIndex(of: ":") else {
                    if text.isEmpty { continue }
                    throw HTTPError(.badRequest, message: "malformed multipart part header")
                }
                let name = text[..<colon].trimmingSpaces().lowercased()
                let value = String(text[text.index(after: colon)...].trimmingSpaces())
                if name == "content-disposition" { disposition = value } else if name == "content-type" { type = value; sawType = true }
            }
            guard let disposition else { throw HTTPError(.badRequest, message: "multipart part without Content-Disposition") }
            let params = HeaderParameters.parse(disposition)
            guard params.first?.name == "form-data", let name = params.first(where: { $0.name == "name" })?.value else {
                throw HTTPError(.badRequest, message: "multipart part without a form-data name")
            }
            var filename = params.first(where: { $0.name == "filename" })?.value
            if let extended = params.first(where: { $0.name == "filename*" })?.value,
               let quote = extended.firstRange(of: "''"), extended[..<quote.lowerBound].lowercased() == "utf-8" {
                filename = PercentEncoding.decode(extended[quote.upperBound...])
            }
            if filename != nil {
                guard files.count < limits.maxFiles else {
                    throw HTTPError(.badRequest, message: "too many files in the form (limit \(limits.maxFiles))")
                }
                part = Part(name: name, filename: filename, contentType: type,
                            collector: RequestBodyCollector(spillThreshold: limits.spillThreshold, temporaryDirectory: limits.temporaryDirectory))
            } else {
                guard fieldCount < limits.maxFields else {
                    throw HTTPError(.badRequest, message: "too many form fields (limit \(limits.maxFields))")
                }
                fieldCount += 1
                part = Part(name: name, filename: nil, contentType: sawType ? type : "text/plain")
            }
        }

        /// Hands `buffer[start..<end]` to the current part and consumes it.
        mutating func write(_ end: Int) throws(HTTPError) {
            guard end > start, var current = part else { start = max(start, end); return }
            part = nil
            let count = end - start
            current.size += count
            if current.collector != nil {
                if let max = limits.maxFileBytes, current.size > max {
                    throw HTTPError(.payloadTooLarge, message: "file \"\(current.name)\" is larger than \(max) bytes")
                }
                let range = start..<end
                let result = buffer.withUnsafeBytes { raw in
                    Result { () throws(RequestBodyError) in try current.collector!.append(UnsafeRawBufferPointer(rebasing: raw[range])) }
                }
                if case .failure(let error) = result {
                    throw HTTPError(.internalServerError, message: "cannot store the upload: \(error)")
                }
            } else {
                guard current.size <= limits.maxFieldBytes else {
                    throw HTTPError(.payloadTooLarge, message: "form field \"\(current.name)\" is larger than \(limits.maxFieldBytes) bytes")
                }
                current.field.append(contentsOf: buffer[start..<end])
            }
            part = current
            start = end
        }

        mutating func finishPart() throws(HTTPError) {
            guard let current = part else { return }
            part = nil
            if let collector = current.collector, let filename = current.filename {
                files.append(UploadedFile(field: current.name, filename: UploadedFile.sanitize(filename), unsafeFilename: filename,
                                          contentType: current.contentType, content: collector.finish()))
            } else {
                fields.append(current.name, String(decoding: current.field, as: UTF8.self))
            }
        }
    }
}

/// `type; a=1; b="quoted \"x\""` → [(type, ""), (a, 1), (b, quoted "x")]; names lower-cased.
enum HeaderParameters {
    static func parse(_ value: String) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        var pieces: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for ch in value {
            if escaped { current.append(ch); escaped = false; continue }
            if quoted && ch == "\\" { current.append(ch); escaped = true; continue }
            if ch == "\"" { quoted.toggle() }
            if ch == ";" && !quoted { pieces.append(current); current = ""; continue }
            current.append(ch)
        }
        pieces.append(current)
        for (i, piece) in pieces.enumerated() {
            let text = piece.trimmingSpaces()
            if i == 0 { out.append((text.lowercased(), "")); continue }
            guard let eq = text.firstIndex(of: "=") else { continue }
            let name = text[..<eq].trimmingSpaces().lowercased()
            var raw = text[text.index(after: eq)...].trimmingSpaces()
            if raw.count >= 2, raw.first == "\"", raw.last == "\"" {
                raw = String(raw.dropFirst().dropLast())
                var unescaped = ""
                var escape = false
                for ch in raw {
                    if escape { unescaped.append(ch); escape = false } else if ch == "\\" { escape = true } else { unescaped.append(ch) }
                }
                out.append((name, unescaped))
            } else {
                out.append((name, String(raw)))
            }
        }
        return out
    }
}
