import CFastCGI
import FastCGIWire
import Glibc
import Porter

/// Every call into libfcgi lives here: process initialisation, adopting a connection into an
/// `FCGX_Request`, reading params and STDIN, writing STDOUT, finishing, CGI detection.
enum LibFCGI {
    /// Calls `FCGX_Init()` exactly once per process (it is not thread-safe) and returns its result.
    static let initialized: Bool = {
        let ok = FCGX_Init() == 0
        // libfcgi installs a SIGTERM/SIGUSR1 handler that only sets a flag no thread checks: restore the
        // defaults so the service lifecycle (or the default action) decides what a signal does.
        signal(SIGTERM, SIG_DFL)
        signal(SIGUSR1, SIG_DFL)
        signal(SIGPIPE, SIG_IGN)
        return ok
    }()

    /// Whether this process was started as a plain CGI program (no FastCGI listen socket on fd 0).
    static func isCGI() -> Bool {
        _ = initialized
        return FCGX_IsCGI() != 0
    }
}

/// One connection's libfcgi request state (`FCGX_Request`), reused for every request on a kept connection.
///
/// Owned by exactly one thread or task at a time; the event loop hands it on, it never shares it.
final class FCGIRequest: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<FCGX_Request>

    /// Adopts an accepted connection: no listen socket (libfcgi must never call accept itself) and
    /// `keepConnection` set so the leading `FCGX_Finish_r` inside `FCGX_Accept_r` does not close it.
    init(adopting fd: Int32) {
        _ = LibFCGI.initialized
        raw = .allocate(capacity: 1)
        FCGX_InitRequest(raw, -1, 0)
        raw.pointee.ipcFd = fd
        raw.pointee.keepConnection = 1
        FCGX_Detach(raw)
    }

    deinit {
        if raw.pointee.ipcFd >= 0 || raw.pointee.in != nil {
            raw.pointee.detached = 1
            FCGX_Free(raw, 1)
        }
        raw.deallocate()
    }

    /// The connection's file descriptor, or -1 once libfcgi closed it.
    var fd: Int32 { raw.pointee.ipcFd }

    /// Whether nginx asked to keep the connection (FCGI_KEEP_CONN); clear it to close after this request.
    var keepConnection: Bool {
        get { raw.pointee.keepConnection != 0 }
        set { raw.pointee.keepConnection = newValue ? 1 : 0 }
    }

    /// Reads BEGIN_REQUEST and PARAMS (already buffered, checked by `RequestGate`). False if libfcgi refused.
    func accept() -> Bool {
        let rc = FCGX_Accept_r(raw)
        guard rc >= 0, raw.pointee.ipcFd >= 0 else { return false }
        // Plain close() instead of libfcgi's lingering shutdown + 2 s poll when the connection ends.
        raw.pointee.detached = 1
        return true
    }

    /// Reads the next STDIN bytes into `buffer` (blocking until it is full or STDIN ends).
    func readStdin(into buffer: UnsafeMutableRawBufferPointer) -> BodyInput {
        let n = Int(FCGX_GetStr(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), raw.pointee.in))
        if n == buffer.count { return .bytes(n) }
        if FCGX_GetError(raw.pointee.in) != 0 { return .failed }
        if FCGX_HasSeenEOF(raw.pointee.in) != 0 || n == 0 { return .end(max(0, n)) }
        return .bytes(max(0, n))
    }

    /// Writes bytes to STDOUT (libfcgi buffers 8 KiB and frames records). False once the peer is gone.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let n = FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), raw.pointee.out)
        return n == Int32(bytes.count)
    }

    /// Responses up to this size go out framed by `writeResponse` in one `writev`; larger ones through libfcgi.
    static let wholeResponseLimit = 1024 * 1024
    /// STDOUT content per record: the largest multiple of 8 a record can carry, so only the last needs padding.
    static let recordContent = RecordHeader.maximumContentLength & ~7

    /// Writes a whole buffered response — its STDOUT records, the empty STDOUT record that ends the stream and
    /// END_REQUEST — with one `writev` that copies nothing (through libfcgi's 8 KiB buffer a 17 KB feed costs three
    /// writes and a copy), then marks libfcgi's STDOUT closed so `finish()` adds nothing. It must be the request's
    /// only write. False once the peer is gone (the connection is then not kept).
    @discardableResult
    func writeResponse(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> Bool {
        let total = head.count + body.count
        guard total <= Self.wholeResponseLimit, let out = raw.pointee.out, out.pointee.wasFCloseCalled == 0 else {
            return write(head) && write(body)
        }
        let requestID = UInt16(truncatingIfNeeded: raw.pointee.requestId)
        let records = (total + Self.recordContent - 1) / Self.recordContent
        // Header bytes: one per record, then 8 zero bytes of padding, then the empty STDOUT record and END_REQUEST.
        let framingBytes = records * RecordHeader.size + 8 + 3 * 8
        let ok = withUnsafeTemporaryAllocation(byteCount: framingBytes, alignment: 8) { framing in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: records * 3 + 2) { vectors in
                let base = framing.baseAddress!
                let zeros = base + records * RecordHeader.size
                zeros.initializeMemory(as: UInt8.self, repeating: 0, count: 8)
                var count = 0
                func add(_ pointer: UnsafeRawPointer?, _ length: Int) {
                    guard length > 0, let pointer else { return }
                    vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: pointer), iov_len: length)
                    count += 1
                }
                var start = 0
                for record in 0..<records {
                    let end = min(total, start + Self.recordContent)
                    let header = RecordHeader(type: .stdout, requestID: requestID, contentLength: UInt16(end - start))
                    header.store(at: base + record * RecordHeader.size)
                    add(base + record * RecordHeader.size, RecordHeader.size)
                    if start < head.count { add(head.baseAddress! + start, min(end, head.count) - start) }
                    if end > head.count {
                        let from = max(start, head.count) - head.count
                        add(body.baseAddress.map { $0 + from }, end - head.count - from)
                    }
                    add(zeros, Int(header.paddingLength))
                    start = end
                }
                let trailer = zeros + 8
                RecordHeader(type: .stdout, requestID: requestID, contentLength: 0).store(at: trailer)
                RecordHeader(type: .endRequest, requestID: requestID, contentLength: 8).store(at: trailer + 8)
                EndRequestBody(appStatus: UInt32(bitPattern: raw.pointee.appStatus)).store(at: trailer + 16)
                add(trailer, 24)
                return Self.writeAll(fd, vectors.baseAddress!, count)
            }
        }
        out.pointee.wasFCloseCalled = 1
        out.pointee.isClosed = 1
        if !ok { keepConnection = false }
        return ok
    }

    /// `writev` until every vector is written (advancing past partial writes); false on an error or timeout.
    private static func writeAll(_ fd: Int32, _ vectors: UnsafeMutablePointer<iovec>, _ count: Int) -> Bool {
        var first = 0
        while first < count {
            let n = writev(fd, vectors + first, Int32(count - first))   // at most 17 records × 3 + 2, under IOV_MAX
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            var written = n
            while first < count && written >= vectors[first].iov_len {
                written -= vectors[first].iov_len
                first += 1
            }
            if written > 0 {
                vectors[first].iov_base = vectors[first].iov_base.map { $0 + written }
                vectors[first].iov_len -= written
            }
        }
        return true
    }

    /// Flushes buffered STDOUT to the socket (for streamed bodies).
    @discardableResult
    func flush() -> Bool { FCGX_FFlush(raw.pointee.out) == 0 }

    /// Writes the end of STDOUT and END_REQUEST; closes the connection unless it is kept.
    func finish() {
        raw.pointee.detached = 1
        FCGX_Finish_r(raw)
    }
}
