import Foundation
import Logging
import Synchronization
import Porter
import PorterTesting
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

