import Foundation
import PorterTesting
import Testing

/// The nginx the tests start lives as long as its test: it must hold none of the test process's other descriptors.
@Suite("Test harness: nginx inherits no descriptor", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"))
struct NginxHarnessTests {
    @Test("a pipe open in the test process while nginx starts is not held by nginx: its reader sees EOF once the writer closes")
    func nginxHoldsNoInheritedPipe() async throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)   // not close-on-exec, as Foundation's Pipe and a child's stdout are
        let nginx = try await ConcurrentClients.offPool {
            try NginxHarness(http: "server { listen 127.0.0.1:{{PORT}}; location / { return 200 \"ok\\n\"; } }")
        }
        defer { nginx.stop() }
        let pid = try #require(nginx.pid)
        let pipeInode = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(ends[1])")
        let held = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
        #expect(!held.contains(pipeInode), "nginx holds \(pipeInode): \(held)")
        close(ends[1])
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)   // -1 (EAGAIN) instead of hanging if held
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 0, "EOF once this process's writer is closed")
        close(ends[0])
    }
}
