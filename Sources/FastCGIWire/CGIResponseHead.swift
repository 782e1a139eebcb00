// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter
import Glibc

/// The encoding side of the CGI response format that `CGIResponse(parsing:)` reads: one place for both.
extension HTTPResponse {
    /// The CGI response head nginx parses: `Status:`, the headers, `Set-Cookie` lines, a default `Content-Type`
    /// (`application/octet-stream`) when the response may have a body but names none, `Content-Length` when
    /// `bodyLength` is known (replacing any set by hand), and the blank line. CR and LF are removed from every
    /// name and value, so no header can split the response (header injection).
    ///
    /// A HEAD response passes the length its GET would have: the head is the same, only the body is left out.
    public func cgiHead(bodyLength: Int?) -> [UInt8] {
        withCGIHead(bodyLength: bodyLength) { Array($0) }
    }

    /// Calls `body` with the bytes `cgiHead(bodyLength:)` returns, encoded in one temporary buffer sized up front
    /// (on the stack for a usual head): what a response writer uses, so a head costs no array and no regrowth.
    @discardableResult
    public func withCGIHead<R>(bodyLength: Int?, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let cookieLines = cookies.map(\.headerValue)
        var hasContentType = false
        var capacity = CGIHead.fixedBytes + status.reasonPhrase.utf8.count
        let fields = headers.fields
        // By index, so no field is copied (a copy retains and releases each long name and value).
        for i in fields.indices {
            capacity += fields[i].name.utf8.count + fields[i].value.utf8.count + 4
            if fields[i].name.equalsIgnoringASCIICase("Content-Type") { hasContentType = true }
        }
        for line in cookieLines { capacity += CGIHead.setCookie.utf8CodeUnitCount + line.utf8.count + 2 }
        let defaultContentType = !hasContentType && !status.forbidsBody && (bodyLength ?? 1) > 0
        return try withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 1) { buffer in
            var head = CGIHead(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), capacity: capacity)
            head.append(CGIHead.status)
            head.appendDecimal(status.code)
            head.append(UInt8(ascii: " "))
            head.appendSanitized(status.reasonPhrase)
            head.appendLineEnd()
            for i in fields.indices {
                if bodyLength != nil, fields[i].name.equalsIgnoringASCIICase("Content-Length") { continue }
                head.appendField(fields[i].name, fields[i].value)
            }
            for line in cookieLines {
                head.append(CGIHead.setCookie)
                head.appendSanitized(line)
                head.appendLineEnd()
            }
            if defaultContentType { head.append(CGIHead.defaultContentType) }
            if let bodyLength, !status.forbidsBody {
                head.append(CGIHead.contentLength)
                head.appendDecimal(bodyLength)
                head.appendLineEnd()
            }
            head.appendLineEnd()
            return try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: head.count))
        }
    }
}

/// Writes a head into memory sized for it (`withCGIHead` counts every byte it may write before it starts).
struct CGIHead {
    static let status: StaticString = "Status: "
    static let setCookie: StaticString = "Set-Cookie: "
    static let defaultContentType: StaticString = "Content-Type: application/octet-stream\r\n"
    static let contentLength: StaticString = "Content-Length: "
    /// Every byte a head may hold besides its reason phrase, fields and cookies: the status line (a number of up
    /// to 20 characters, a space, CRLF), a default Content-Type, Content-Length (up to 20), and the closing CRLF.
    static let fixedBytes = status.utf8CodeUnitCount + 20 + 1 + 2 + defaultContentType.utf8CodeUnitCount
        + contentLength.utf8CodeUnitCount + 20 + 2 + 2

    private let base: UnsafeMutablePointer<UInt8>
    /// The bytes at `base`: every append asserts (in debug builds, where the tests run) that it stays inside.
    private let capacity: Int
    /// Bytes written so far.
    private(set) var count = 0

    init(_ base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    mutating func appendField(_ name: String, _ value: String) {
        appendSanitized(name)
        append(UInt8(ascii: ":"))
        append(UInt8(ascii: " "))
        appendSanitized(value)
        appendLineEnd()
    }

    /// Appends `text` without its CR and LF bytes: one copy unless it really holds one (memchr looks at many bytes
    /// per step; a byte loop costs several instructions a byte).
    mutating func appendSanitized(_ text: String) {
        text.withUTF8Bytes { appendSanitized($0) }
    }

    private mutating func appendSanitized(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        assert(count + bytes.count <= capacity, "CGI head sized too small")
        if memchr(source, 13, bytes.count) == nil && memchr(source, 10, bytes.count) == nil {
            (base + count).update(from: source, count: bytes.count)
            count += bytes.count
        } else {
            for byte in bytes where byte != 13 && byte != 10 { append(byte) }
        }
    }

    mutating func append(_ text: StaticString) {
        assert(count + text.utf8CodeUnitCount <= capacity, "CGI head sized too small")
        (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    mutating func append(_ byte: UInt8) {
        assert(count < capacity, "CGI head sized too small")
        base[count] = byte
        count += 1
    }

    /// Appends a decimal number (a status code or a length): at most 20 characters, a sign included.
    mutating func appendDecimal(_ value: Int) {
        if value < 0 { append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 { digits += 1; rest /= 10 }
        assert(count + digits <= capacity, "CGI head sized too small")
        var v = magnitude
        for i in stride(from: digits - 1, through: 0, by: -1) {
            base[count + i] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
        }
        count += digits
    }

    mutating func appendLineEnd() {
        append(13)
        append(10)
    }
}
