import Glibc
import Porter

/// Reads and writes small text files without Foundation.
public enum FileText {
    /// The file's contents as UTF-8, or nil when it cannot be read.
    public static func read(_ path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path`, replacing it.
    public static func write(_ text: String, to path: String) -> Bool {
        guard let f = fopen(path, "wb") else { return false }
        defer { fclose(f) }
        let bytes = Array(text.utf8)
        return fwrite(bytes, 1, bytes.count, f) == bytes.count
    }
}

/// Small file-system helpers for commands and setup code (no Foundation).
public enum FileSystem {
    /// The process's working directory.
    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Creates `path` with `mode` unless it exists as a directory; refuses a symlink or a non-directory there.
    public static func makeDirectory(_ path: String, mode: mode_t) throws(ConfigurationError) {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ConfigurationError("\(path) exists and is not a directory") }
            return
        }
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw ConfigurationError("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates the directory that will hold `file` (and its parents, mode 0750) unless it exists.
    public static func makeParentDirectory(of file: String) throws(ConfigurationError) {
        guard let slash = file.lastIndex(of: "/"), slash != file.startIndex else { return }
        let dir = String(file[..<slash])
        var st = stat()
        if stat(dir, &st) == 0 { return }
        try makeParentDirectory(of: dir)
        try makeDirectory(dir, mode: 0o750)
    }

    /// A random secret of `bytes` bytes as lower-case hex, kept in `path` (mode 0600, created on first use).
    public static func secret(at path: String, bytes: Int) throws(ConfigurationError) -> String {
        if let text = FileText.read(path) {
            let hex = text.filter { !$0.isWhitespace }
            guard hex.count == bytes * 2, hex.allSatisfy(\.isHexDigit) else {
                throw ConfigurationError("\(path) does not hold a \(bytes)-byte hex secret")
            }
            return hex
        }
        let hex = Hex.encode(SecureRandom.bytes(bytes))
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigurationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((hex + "\n").utf8)
        guard line.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw ConfigurationError("cannot write \(path)")
        }
        return hex
    }
}
