#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The open, already unlinked temporary file of a spilled body; closed at the end of the request or on release.
final class SpilledBodyFile: Sendable {
    private let descriptor: Mutex<Int32>

    init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    deinit { close() }

    /// Reads at `offset` (retrying interrupted reads).
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(RequestBodyError) -> Int {
        try descriptor.withLock { (fd) throws(RequestBodyError) -> Int in
            guard fd >= 0 else { throw .closed }
            while true {
                let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
                if n >= 0 { return n }
                if errno != EINTR { throw .io(operation: "read", errno: errno) }
            }
        }
    }

    /// Appends bytes at the end (the collector's sequential writes).
    func append(_ bytes: UnsafeRawBufferPointer) throws(RequestBodyError) {
        try descriptor.withLock { (fd) throws(RequestBodyError) in
            guard fd >= 0 else { throw .closed }
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n > 0 {
                    done += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    throw .io(operation: "write", errno: n < 0 ? errno : ENOSPC)
                }
            }
        }
    }

    /// Closes the file (idempotent); the kernel frees its blocks.
    func close() {
        descriptor.withLock { fd in
            if fd >= 0 {
                _ = Glibc.close(fd)
                fd = -1
            }
        }
    }

    /// Creates an unlinked temporary file in `directory`.
    static func create(in directory: String) throws(RequestBodyError) -> SpilledBodyFile {
        var template = Array(((directory.hasSuffix("/") ? directory : directory + "/") + "porter-body-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .io(operation: "create in \(directory)", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return SpilledBodyFile(descriptor: fd)
    }
}
