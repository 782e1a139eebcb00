@testable import PorterFastCGI
import PorterTesting
import Testing
import Glibc

/// A TCP socket listening on 127.0.0.1 at a kernel-chosen port (the "someone else has this address" of the tests).
func occupiedTCPPort() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard fd >= 0, ok else { throw ServerStartError("cannot set up the occupied port") }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

@Suite("Listen socket: Porter binds it itself and reports every failure (libfcgi's FCGX_OpenSocket calls exit())")
struct ListenSocketTests {
    func open(_ listen: FastCGIServerConfiguration.Listen) -> Result<Int32, ServerStartError> {
        Result { () throws(ServerStartError) in try ListenSocket.open(FastCGIServerConfiguration(listen: listen)).fd }
    }

    @Test("a TCP address in use is an error naming the address, and the process goes on")
    func tcpInUse() throws {
        let (other, port) = try occupiedTCPPort()
        defer { close(other) }
        guard case .failure(let error) = open(.tcp(host: "127.0.0.1", port: port)) else {
            Issue.record("opened an address in use"); return
        }
        #expect(error.message == "cannot listen on 127.0.0.1:\(port): Address already in use")
    }

    @Test("a free TCP address listens (IPv4, a name, IPv6 in brackets)")
    func tcpFree() throws {
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let (probe, port) = try occupiedTCPPort()
            close(probe) // a port that was just free
            switch open(.tcp(host: host, port: port)) {
            case .success(let fd):
                #expect(ListenSocket.isListening(fd), "\(host)")
                close(fd)
            case .failure(let error):
                // A machine without IPv6 on loopback refuses [::1]; that is still a clear error, not an exit.
                #expect(host == "[::1]" && error.message.hasPrefix("cannot listen on [::1]:"), "\(host): \(error)")
            }
        }
    }

    @Test("unix: a stale socket file is replaced; a live one, a regular file and a too-long path are errors")
    func unix() throws {
        let dir = try TemporaryDirectory(prefix: "porter-ls")
        let path = dir.path("s")

        guard case .success(let first) = open(.unix(path: path)) else { Issue.record("first open failed"); return }
        guard case .failure(let live) = open(.unix(path: path)) else { Issue.record("took over a live socket"); return }
        #expect(live.message == "cannot listen on unix:\(path): address already in use (a running server accepts on it)")
        close(first) // the file stays behind: stale
        guard case .success(let second) = open(.unix(path: path)) else { Issue.record("stale socket not replaced"); return }
        #expect(ListenSocket.isListening(second))
        close(second)

        let file = try dir.write("keep me", to: "file")
        guard case .failure(let notSocket) = open(.unix(path: file)) else { Issue.record("replaced a regular file"); return }
        #expect(notSocket.message == "cannot listen on unix:\(file): the file exists and is not a socket")
        #expect(access(file, F_OK) == 0, "the regular file is left alone")

        let long = dir.path(String(repeating: "x", count: 120))
        guard case .failure(let tooLong) = open(.unix(path: long)) else { Issue.record("opened a too-long path"); return }
        #expect(tooLong.message == "cannot listen on unix:\(long): the path must be 1 to 107 bytes")
    }
}
