import PorterFastCGI
import PorterTesting
import Testing
import Glibc

@Suite("Startup on an address in use: a clear error and a non-zero exit (libfcgi used to exit() silently)")
struct ListenStartupTests {
    @Test("porter serve on a TCP port another socket holds", arguments: [0, 2])
    func tcpInUse(workers: Int) async throws {
        let dir = try TemporaryDirectory(prefix: "porter-inuse")
        let other = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(other) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(other, $0, length) == 0 && listen(other, 4) == 0 && getsockname(other, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let (_, text) = try integrationConfiguration(socket: dir.path("unused.sock"))
        let config = try dir.write(text, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config, "--listen", "127.0.0.1:\(port)", "--workers", "\(workers)"],
                                       logPath: dir.path("porter.log"))
        let status = await porter.exitStatus()
        #expect(status != nil && status != 0, "exit status \(String(describing: status))")
        #expect(porter.log.contains("cannot listen on 127.0.0.1:\(port): Address already in use"), "log:\n\(porter.log)")
    }
}
