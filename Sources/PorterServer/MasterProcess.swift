import Logging
import PorterFastCGI
import Glibc

/// PHP-FPM-style process model: the master owns the listen socket and keeps N worker processes on it.
struct MasterProcess {
    /// Set in a worker's environment: the inherited listen socket's fd number.
    static let workerEnvironmentKey = "PORTER_WORKER_FD"

    let configuration: ServerConfiguration
    let configPath: String?
    let logger: Logger

    /// The listen socket a worker process inherited from its master, or from systemd socket activation.
    static func inheritedListen() -> FastCGIServerConfiguration.Listen? {
        if let fd = getenv(workerEnvironmentKey).flatMap({ Int32(String(cString: $0)) }) { return .inherited(fd: fd) }
        if let pid = getenv("LISTEN_PID").flatMap({ Int32(String(cString: $0)) }), pid == getpid(),
           let count = getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) }), count >= 1 {
            return .inherited(fd: 3)
        }
        return nil
    }

    func run() async throws {
        throw ServerStartError("workers > 0 is not available yet")
    }
}
