import Foundation
import PorterTesting
import Testing

/// Finds key-like material in text: long hex runs, `hex:`/`base64:` secrets, `keys = [` with a value, private keys.
enum SecretScanner {
    static let patterns: [(name: String, regex: NSRegularExpression)] = [
        ("64+ hex digits", #"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64,}(?![0-9A-Fa-f])"#),
        ("hex: secret", #"\bhex:[0-9A-Fa-f]{32,}"#),
        ("base64: secret", #"\bbase64:[A-Za-z0-9+/_-]{32,}"#),
        ("keys = [ with a value", #"\bkeys\s*=\s*\[\s*["'][^"'\s]+"#),
        ("PORTER_AUTH_KEYS with a value", #"PORTER_AUTH_KEYS\s*[=:]\s*["']?[A-Za-z0-9+/_:-]{32,}"#),
        ("private key", #"-----BEGIN [A-Z ]*PRIVATE KEY-----"#),
    ].map { ($0.0, try! NSRegularExpression(pattern: $0.1)) }

    /// `(pattern name, line number)` for every match in `text`.
    static func findings(in text: String) -> [(String, Int)] {
        var out: [(String, Int)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let s = String(line)
            for (name, regex) in patterns where regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil {
                out.append((name, number + 1))
            }
        }
        return out
    }
}

/// Issue 10, item 2: no signing key (or anything shaped like one) in any committed file outside `Tests/`.
@Suite("Committed files carry no secrets")
struct CommittedSecretsTests {
    @Test("the scanner finds each kind of key-like material")
    func scannerFindsKeys() {
        let hex = String(repeating: "3f", count: 32)
        for sample in [hex, "keys_file = x # \(hex)", "keys = [\"hex:\(hex)\"]", "hex:\(hex.prefix(40))",
                       "base64:" + String(repeating: "QUJD", count: 11), "keys = [ 'abc' ]", "PORTER_AUTH_KEYS=hex:\(hex)",
                       "-----BEGIN " + "PRIVATE KEY-----"] {
            #expect(!SecretScanner.findings(in: sample).isEmpty, "missed: \(sample)")
        }
        for clean in ["keys = []", "keys_file = \"auth.keys\"", "hex:…", "head -c 32 /dev/urandom | xxd -p -c 64 > auth.keys",
                      "keys = [ ]", String(repeating: "3f", count: 20)] {
            #expect(SecretScanner.findings(in: clean).isEmpty, "false alarm: \(clean)")
        }
    }

    @Test("every committed file outside Tests/ is free of key-like material",
          .enabled(if: FileManager.default.fileExists(atPath: NginxPorterSite.repositoryRoot + "/.git")))
    func noCommittedSecrets() async throws {
        let repo = NginxPorterSite.repositoryRoot
        // git's output goes to a file, not a pipe, and the wait is off the cooperative pool: a pipe's end inherited by a
        // child another test started at the same moment (nginx) kept the read from ever seeing EOF, and that read held
        // one of the pool's two threads (a CI run stalled on it).
        let dir = try TemporaryDirectory(prefix: "porter-gitls")
        let listing = dir.path("files")
        let status = try await ConcurrentClients.offPool { () throws -> Int32 in
            FileManager.default.createFile(atPath: listing, contents: nil)
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            git.arguments = ["-C", repo, "ls-files", "-z"]
            git.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: listing))
            try git.run()
            git.waitUntilExit()
            return git.terminationStatus
        }
        #expect(status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: listing))
        let files = String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init).filter { !$0.hasPrefix("Tests/") }
        #expect(files.count > 50, "git ls-files listed the repository")
        var findings: [String] = []
        for file in files {
            guard let contents = FileManager.default.contents(atPath: repo + "/" + file), !contents.contains(0) else { continue }
            for (name, line) in SecretScanner.findings(in: String(decoding: contents, as: UTF8.self)) {
                findings.append("\(file):\(line): \(name)")
            }
        }
        #expect(findings.isEmpty, "key-like material committed:\n\(findings.joined(separator: "\n"))")
    }
}
