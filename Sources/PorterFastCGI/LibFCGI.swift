import CFastCGI
import Porter
import Glibc

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

    /// Copies every parameter out of libfcgi in one allocation (its strings die at `finish()`).
    func parameters() -> CGIParameters {
        guard let envp = raw.pointee.envp else { return CGIParameters() }
        return CGIParameters(environment: envp)
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

    /// Flushes buffered STDOUT to the socket (for streamed bodies).
    @discardableResult
    func flush() -> Bool { FCGX_FFlush(raw.pointee.out) == 0 }

    /// Writes the end of STDOUT and END_REQUEST; closes the connection unless it is kept.
    func finish() {
        raw.pointee.detached = 1
        FCGX_Finish_r(raw)
    }
}
