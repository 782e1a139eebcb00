#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Porter

/// Turns a request path into a path relative to the image root, refusing anything that could leave it.
enum ImagePath {
    /// The root-relative path for `path` (decoded) under `prefix`; `rawURI` is the request target as sent.
    ///
    /// NUL bytes, backslashes, `.`/`..` or empty segments, absolute paths after the prefix and percent-encoded
    /// dots, slashes, backslashes or NULs in the raw URI are 400s; paths outside the prefix, hidden segments
    /// (`.git`) and extensions that are not images are 404s.
    static func relative(path: String, rawURI: String, prefix: String) throws(HTTPError) -> String {
        let rawPath = rawURI.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let lowered = rawPath.lowercased()
        for encoded in ["%2e", "%2f", "%5c", "%00"] where lowered.contains(encoded) {
            throw HTTPError(.badRequest, message: "encoded dots, slashes or NULs are not allowed in image paths")
        }
        guard !path.utf8.contains(0), !path.utf8.contains(UInt8(ascii: "\\")) else {
            throw HTTPError(.badRequest, message: "invalid image path")
        }
        guard path.utf8.count <= 1024 else { throw HTTPError(.badRequest, message: "image path too long") }
        guard path.hasPrefix(prefix + "/") else { throw HTTPError(.notFound) }
        let relative = String(path.dropFirst(prefix.count + 1))
        guard !relative.hasPrefix("/") else {
            throw HTTPError(.badRequest, message: "absolute paths are not allowed")
        }
        let segments = relative.split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            guard !segment.isEmpty, segment != ".", segment != ".." else {
                throw HTTPError(.badRequest, message: "invalid image path")
            }
            guard !segment.hasPrefix(".") else { throw HTTPError(.notFound) }
        }
        guard let last = segments.last, let dot = last.lastIndex(of: "."),
              SourceFormat.servedExtensions.contains(last[last.index(after: dot)...].lowercased()) else {
            throw HTTPError(.notFound)
        }
        return relative
    }
}

/// The image root, resolved once; opens files only when their real path stays inside it.
struct SourceDirectory: Sendable {
    /// The root's real path (symlinks resolved), without a trailing slash.
    let realRoot: String

    /// Resolves `root`; throws when it does not exist or is not a directory.
    init(root: String) throws(ConfigurationError) {
        guard let real = SourceDirectory.realPath(root) else {
            throw ConfigurationError("image root \"\(root)\" does not exist")
        }
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ConfigurationError("image root \"\(root)\" is not a directory")
        }
        realRoot = real == "/" ? "" : real
    }

    /// Opens `relative` (already checked by `ImagePath`) for reading: 404 when missing, unreadable, not a
    /// regular file, or when its real path (after symlinks) is outside the root.
    func open(_ relative: String) throws(HTTPError) -> SourceFile {
        guard let real = SourceDirectory.realPath(realRoot + "/" + relative), real.hasPrefix(realRoot + "/") else {
            throw HTTPError(.notFound)
        }
        let fd = openReadOnly(real)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw HTTPError(.notFound)
        }
        return SourceFile(fd: fd, status: st)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// `open(2)` read-only, close-on-exec, refusing a symlink as the last component.
private func openReadOnly(_ path: String) -> Int32 {
    open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
}

/// An open source image; the descriptor is closed when the last reference goes away.
final class SourceFile: Sendable {
    /// The open descriptor (read-only).
    let fd: Int32
    /// Size in bytes at open time.
    let size: Int
    /// Modification time, whole seconds since the epoch.
    let modifiedSeconds: Int
    /// Modification time, nanoseconds part.
    let modifiedNanoseconds: Int
    /// Device and inode, identifying the file for request coalescing.
    let identity: String

    init(fd: Int32, status st: stat) {
        self.fd = fd
        size = Int(st.st_size)
        modifiedSeconds = Int(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int(st.st_mtim.tv_nsec)
        identity = "\(st.st_dev):\(st.st_ino)"
    }

    deinit { close(fd) }

    /// Up to `count` bytes from `offset` (fewer at the end of the file); throws a 500 on a read error.
    func read(offset: Int, count: Int) throws(HTTPError) -> [UInt8] {
        guard count > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + filled, count - filled, off_t(offset + filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw HTTPError(.internalServerError, message: "could not read the image")
            }
            if n == 0 { break }
            filled += n
        }
        if filled < count { buffer.removeLast(count - filled) }
        return buffer
    }

    /// The whole file as it was sized at open time.
    func readAll() throws(HTTPError) -> [UInt8] {
        try read(offset: 0, count: size)
    }
}
