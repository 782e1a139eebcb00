import FastCGIWire
import Foundation
import PorterTesting
import Testing
import Glibc

/// spawn-fcgi hands Porter an already-listening socket on fd 0 (as it does for any libfcgi program).
@Suite("Inherited listen socket", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/spawn-fcgi"), "spawn-fcgi is not installed"))
struct SpawnFCGITests {
    @Test("`spawn-fcgi -- porter serve` serves the socket on fd 0")
    func spawnFCGI() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-spawn")
        let config = try dir.write("""
        listen = "\(dir.path("unused.sock"))"
        [[handlers]]
        path = "/hello"
        handler = "hello"
        """, to: "porter.toml")
        // spawn-fcgi forks Porter and exits; wait for it with waitpid (not Foundation's Process, whose
        // monitoring can miss a parent that exits while its child lives on).
        let arguments = ["/usr/bin/spawn-fcgi", "-s", dir.path("s"), "-M", "0600", "-P", dir.path("pid"), "--",
                         PorterProcess.binaryPath(), "serve", "--config", config]
        let status = try await ConcurrentClients.offPool { () -> Int32 in
            var pid = pid_t()
            let argv = arguments.map { strdup($0) } + [nil]
            defer { for a in argv { free(a) } }
            guard posix_spawn(&pid, arguments[0], nil, nil, argv, environ) == 0 else { return -1 }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }
        #expect(status == 0)
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path("s")) })
        let response = try await ConcurrentClients.offPool { try FastCGIClient(unixPath: dir.path("s")).send(.get("/hello")) }
        #expect(response.bodyText == "Hello, world\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("unused.sock")), "the configured address was not used")
        if let pid = Int32(dir.read("pid").trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGTERM) }
    }
}
