// Porter — PorterTesting: helpers shared by the pipeline, FastCGI and nginx test tiers.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What `/proc` says about processes and threads (Linux).
public enum ProcessTable {
    /// The pids whose parent is `parent`, now.
    public static func children(of parent: pid_t) -> Set<pid_t> {
        var found: Set<pid_t> = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm)": state, then ppid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == parent { found.insert(pid) }
        }
        return found
    }

    /// The command line of `pid` with its arguments joined by spaces ("" if it is gone).
    public static func commandLine(of pid: pid_t) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// The number of OS threads of `pid` now (entries of `/proc/PID/task`), nil if the process is gone.
    public static func threadCount(of pid: pid_t) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count
    }
}
