import Foundation
import Logging
import Synchronization
import Porter
@testable import PorterOps

/// A context for `uri` from `remote`, sharing `application`.
func makeContext(_ uri: String, method: HTTPMethod = .get, remote: String = "127.0.0.1",
                 application: ApplicationState, headers: HTTPHeaders = [:]) -> HTTPContext {
    HTTPContext(request: HTTPRequest(method: method, uri: uri, headers: headers, remoteAddress: remote),
                application: application, logger: Logger(label: "porter-ops-test"))
}

/// Runs one request through `pipeline` and returns its context.
@discardableResult
func send(_ pipeline: Pipeline, _ uri: String, method: HTTPMethod = .get, remote: String = "127.0.0.1",
          application: ApplicationState, headers: HTTPHeaders = [:]) async -> HTTPContext {
    let ctx = makeContext(uri, method: method, remote: remote, application: application, headers: headers)
    for module in pipeline.modules { module.publish(in: application.services) }   // as the host does at startup
    await pipeline.run(ctx)
    return ctx
}

/// A module that authenticates from the `X-Test-User` / `X-Test-Roles` headers (for access tests).
struct HeaderAuthModule: HTTPModule {
    var name: String { "headerAuth" }
    func subscribe(to events: inout ModuleEvents) {
        events.on(.authenticateRequest) { ctx in
            if let user = ctx.request.headers["X-Test-User"] {
                let roles = Set((ctx.request.headers["X-Test-Roles"] ?? "").split(separator: ",").map(String.init))
                ctx.user = Principal(name: user, authenticationType: "test", roles: roles)
            }
        }
    }
}

/// A module subscribing to every event, so every event gets a module span.
struct SpyModule: HTTPModule {
    var name: String { "spy" }
    func subscribe(to events: inout ModuleEvents) {
        for event in LifecycleEvent.allCases where event != .executeRequestHandler && event != .error {
            events.on(event) { _ in }
        }
    }
}

extension HTTPContext {
    /// The buffered response body as text.
    var bodyText: String { String(decoding: response.bufferedBody ?? [], as: UTF8.self) }
}

/// The result of running an external program.
struct ProgramResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` on a dedicated thread (never blocking Swift's cooperative pool) and returns its output.
func runProgram(_ executable: String, _ arguments: [String], stdin: String? = nil, timeout: TimeInterval = 120) async throws -> ProgramResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runProgramBlocking(executable, arguments, stdin: stdin, timeout: timeout) })
        }
    }
}

/// Runs `executable` with `arguments` (stdout/stderr captured through temp files), killing it after `timeout`
/// (a hang guard; its stderr then says so).
func runProgramBlocking(_ executable: String, _ arguments: [String], stdin: String? = nil, timeout: TimeInterval = 120) throws -> ProgramResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("porter-ops-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err"), inp = dir.appendingPathComponent("in")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    _ = FileManager.default.createFile(atPath: inp.path, contents: Data((stdin ?? "").utf8))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = try FileHandle(forReadingFrom: inp)
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    let hung = process.isRunning
    if hung { process.terminate() }
    process.waitUntilExit()
    let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
    return ProgramResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                         stderr: hung ? "killed after the \(Int(timeout)) s hang guard: \(executable) \(arguments.first ?? "")\n" + stderr : stderr)
}

/// The first executable named `name` on PATH (or in the usual directories).
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"] {
        let candidate = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A fresh temporary file path (not created).
func temporaryPath(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("porter-ops-\(UUID().uuidString)\(suffix)").path
}

/// How long a test waits for an asynchronous outcome before calling it a hang: generous, because the machine
/// may be busy. Tests never assert how long something took; they wait for the state they expect.
let hangGuard: Duration = .seconds(60)

/// A wait that reached its hang guard.
struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var waited: Duration
    var description: String { "gave up after \(waited) waiting for \(what)" }
}

/// Waits until `condition` holds, checking it every few milliseconds; throws `WaitTimedOut` naming `what`
/// (evaluated then, so it can show the last state) after `timeout`.
func waitUntil(_ what: @autoclosure () -> String, timeout: Duration = hangGuard,
               _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    var pause = Duration.milliseconds(1)
    while true {
        if try await condition() { return }
        if clock.now - start >= timeout { throw WaitTimedOut(what: what(), waited: timeout) }
        try await Task.sleep(for: pause)
        pause = min(pause * 2, .milliseconds(20))
    }
}

/// A gate async work waits at (suspended, no thread held) until the test lets it through; counts arrivals.
final class Gate: Sendable {
    private struct State {
        var entered = 0
        var permits = 0
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Callers that reached the gate so far.
    var entered: Int { state.withLock { $0.entered } }
    /// Callers waiting at the gate now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Waits until the gate is open or a `release` lets this caller through (earliest first).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let through: Bool = state.withLock { s in
                s.entered += 1
                if s.isOpen { return true }
                if s.permits > 0 { s.permits -= 1; return true }
                s.waiters.append(continuation)
                return false
            }
            if through { continuation.resume() }
        }
    }

    /// Lets everyone through, now and later.
    func open() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Lets `count` callers through, the earliest waiting first (unused permits go to later arrivals).
    func release(_ count: Int = 1) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            let now = min(count, s.waiters.count)
            s.permits += count - now
            defer { s.waiters.removeFirst(now) }
            return Array(s.waiters.prefix(now))
        }
        for w in waiters { w.resume() }
    }
}
