import Foundation
import PorterTesting
import Testing

/// The nginx the tests start lives as long as its test: it must hold none of the test process's other descriptors.
@Suite("Test harness: nginx inherits no descriptor", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"))
struct NginxHarnessTests {
    @Test("a pipe open in the test process while nginx starts is not in nginx's descriptor table")
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
        #expect(held.filter { $0.hasPrefix("pipe:") || $0.hasPrefix("socket:") }.count == held.filter { $0.hasPrefix("socket:") }.count,
                "no pipe at all (nginx's own sockets only): \(held)")
        // (Whether the reader sees EOF is not asserted: children other tests start at the same moment through
        // Foundation's Process inherit it too.)
        close(ends[1])
        close(ends[0])
    }
}
