// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A fresh directory with a short path (`/tmp/porter-XXXXXX`), removed on ``cleanup()`` or deinit.
///
/// Short because a unix socket path must fit `sun_path` (108 bytes including the NUL), so
/// `directory.path("s")` is always usable as a socket. Set `PORTER_KEEP_TEMP=1` to keep directories for debugging.
/// ```swift
/// let dir = try TemporaryDirectory()
/// let socketPath = dir.path("porter.sock")
/// ```
public final class TemporaryDirectory: Sendable {
    /// The absolute directory path, without a trailing slash.
    public let path: String
    private let removed = Mutex(false)

    /// Creates `/tmp/<prefix>-XXXXXX` with mode 0700.
    public init(prefix: String = "porter") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            mkdtemp(buffer.baseAddress!) != nil
        }
        guard created else {
            throw TemporaryDirectoryError(message: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { cleanup() }

    /// The path of `name` inside this directory (nothing is created).
    public func path(_ name: String) -> String { path + "/" + name }

    /// Writes `contents` to `name` inside this directory, creating intermediate directories; returns the path.
    @discardableResult
    public func write(_ contents: String, to name: String) throws -> String {
        let file = path(name)
        let parent = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Creates a subdirectory (and its parents); returns its path.
    @discardableResult
    public func makeDirectory(_ name: String) throws -> String {
        let directory = path(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The contents of `name` as UTF-8 text, or an empty string if it does not exist.
    public func read(_ name: String) -> String {
        guard let data = FileManager.default.contents(atPath: path(name)) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Removes the directory and everything in it (idempotent).
    public func cleanup() {
        let alreadyRemoved = removed.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        guard !alreadyRemoved else { return }
        if ProcessInfo.processInfo.environment["PORTER_KEEP_TEMP"] == "1" { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Why a temporary directory could not be created.
public struct TemporaryDirectoryError: Error, CustomStringConvertible {
    /// What failed.
    public var message: String
    /// The message.
    public var description: String { message }
}
