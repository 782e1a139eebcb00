public import Foundation
import Glibc
import Synchronization

/// The built `porter` executable run as a child process (for signals, worker processes, crashes, reloads).
public final class PorterProcess: Sendable {
    /// The child's pid.
    public let pid: pid_t
    /// Where its stdout and stderr go.
    public let logPath: String
    private let exited = Mutex<Int32?>(nil)
    private nonisolated(unsafe) let process: Process

    /// The `porter` binary next to the test bundle (`.build/<config>/porter`), or `PORTER_BIN`.
    public static func binaryPath() -> String {
        if let configured = ProcessInfo.processInfo.environment["PORTER_BIN"] { return configured }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" {
            if access(dir + "/porter", X_OK) == 0 { return dir + "/porter" }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return ".build/debug/porter"
    }

    /// Starts `porter` (or `executable`, e.g. an example's binary) with `arguments` (e.g. `["serve", "--config", path]`),
    /// output to `logPath`, in `workingDirectory` (default: the test's).
    public init(arguments: [String], logPath: String, environment: [String: String] = [:], executable: String? = nil,
                workingDirectory: String? = nil) throws {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw TemporaryDirectoryError(message: "cannot open \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? PorterProcess.binaryPath())
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.pid = process.processIdentifier
        self.logPath = logPath
        self.process = process
    }

    /// Kills a process still running, without waiting: the last reference may be dropped on a thread of Swift's
    /// cooperative pool, and blocking one there (two on a 2-core machine) stalled every other test's async work.
    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
    }

    /// Sends `signal` to the process.
    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits up to `timeout` (a hang guard) for the process to exit; returns its exit status (or 128+signal),
    /// nil on timeout. Blocks the calling thread: from a test, call ``exitStatus(timeout:)``.
    public func waitForExit(timeout: Duration = hangGuard) -> Int32? {
        if let code = exited.withLock({ $0 }) { return code }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let code = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
                exited.withLock { $0 = code }
                return code
            }
            usleep(20_000)
        }
        return nil
    }

    /// The directory holding the built products (`porter` and, after `deploy/dev.sh test`, the examples' binaries).
    public static var productsDirectory: String { (binaryPath() as NSString).deletingLastPathComponent }

    /// Runs `executable` with `arguments` (in `workingDirectory` when given) and returns its standard output, or
    /// `nil` when it could not start or exited non-zero.
    public static func output(of executable: String, _ arguments: [String], workingDirectory: String? = nil) -> String? {
        guard let (status, output) = try? capture(executable, arguments, workingDirectory: workingDirectory, standardError: false),
              status == 0 else { return nil }
        return output
    }

    /// Runs a child to completion with its standard output (and standard error, if asked) going to a temporary file,
    /// not a pipe: a pipe's write end inherited by a child another test starts at the same moment keeps a read to EOF
    /// waiting as long as that child lives, and on a thread of the cooperative pool that stalled a whole test run.
    static func capture(_ executable: String, _ arguments: [String], workingDirectory: String?,
                        standardError: Bool) throws -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("porter-child-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = standardError ? handle : FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: file, encoding: .utf8)) ?? "")
    }

    /// Runs `executable` with `arguments` (in `workingDirectory` when given) to completion and returns its exit status and combined output (blocks:
    /// from a test, call it inside `ConcurrentClients.offPool`).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String],
                           workingDirectory: String? = nil) throws -> (status: Int32, output: String) {
        try capture(executable, arguments, workingDirectory: workingDirectory, standardError: true)
    }

    /// Waits for a unix socket file to appear (up to `timeout`, a hang guard); returns whether it did.
    public static func waitForSocket(_ path: String, timeout: Duration = hangGuard) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var st = stat()
            if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits (on a thread of its own) for the process to exit; returns its exit status, nil after `timeout`.
    public func exitStatus(timeout: Duration = hangGuard) async -> Int32? {
        (try? await ConcurrentClients.offPool { self.waitForExit(timeout: timeout) }) ?? nil
    }

    /// The log written so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// How many times `text` occurs in the log so far.
    public func logCount(_ text: String) -> Int { log.components(separatedBy: text).count - 1 }

    /// Waits until the log holds `text` at least `occurrences` times; throws ``WaitTimedOut`` (with the log)
    /// after `timeout`.
    public func waitForLog(_ text: String, occurrences: Int = 1, timeout: Duration = hangGuard) async throws {
        try await waitUntil("\(occurrences)× \"\(text)\" in the porter log (seen \(logCount(text))); log:\n\(log)",
                            timeout: timeout) { logCount(text) >= occurrences }
    }

    /// Threads in the process now (from /proc/PID/status), or nil.
    public var threadCount: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(line.dropFirst(8).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Resident memory in KiB (VmRSS), or nil.
    public var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }
}
