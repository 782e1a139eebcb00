import Foundation
import PorterTesting
import Testing

/// The shipped systemd units, checked with systemd's own tools.
@Suite("deploy/ systemd units", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"),
                                        "systemd-analyze is not installed"))
struct DeployTests {
    /// Copies the units into a temporary directory with ExecStart pointing at the built `porter`.
    static func units() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(prefix: "porter-units")
        let root = NginxPorterSite.repositoryRoot + "/deploy/"
        for name in ["porter.service", "porter.socket"] {
            let text = try String(contentsOfFile: root + name, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/porter", with: PorterProcess.binaryPath())
            _ = try dir.write(text, to: name)
        }
        return dir
    }

    static func run(_ arguments: [String], in dir: String) throws -> (status: Int32, output: String) {
        try PorterProcess.run("/usr/bin/systemd-analyze", arguments, workingDirectory: dir)
    }

    @Test("systemd-analyze verify accepts porter.service and porter.socket")
    func verify() throws {
        let dir = try Self.units()
        let result = try Self.run(["verify", "./porter.service", "./porter.socket"], in: dir.path)
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("Unknown"), "\(result.output)")
    }

    @Test("porter.service is sandboxed: systemd-analyze security scores it 2.0 or lower")
    func security() throws {
        let dir = try Self.units()
        let result = try Self.run(["security", "--offline=true", "./porter.service"], in: dir.path)
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(result.output)")
        let score = line.split(separator: ":").last.flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }
        #expect(score != nil && score! <= 2.0, "\(line)")
    }
}
