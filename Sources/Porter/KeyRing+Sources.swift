import Glibc

/// Where a key ring's secrets come from, read once at startup.
///
/// A secret is written `hex:…`, `base64:…` (standard or URL alphabet, padding optional), `text:…` (the UTF-8
/// bytes), or bare: hex when it is an even number of hex digits, else base64. A key file holds one secret per
/// line (`#` starts a comment line) and must not be accessible by group or others. An environment variable
/// holds secrets separated by commas or white space.
extension KeyRing {
    /// A ring from written secrets (the first signs); throws for an undecodable or short one.
    public init(secrets: [String]) throws(ConfigurationError) {
        var keys: [[UInt8]] = []
        for secret in secrets {
            guard let key = KeyRing.decodeSecret(secret) else {
                throw ConfigurationError("a key is neither hex nor base64 (write hex:…, base64:… or text:…)")
            }
            keys.append(key)
        }
        try self.init(keys: keys)
    }

    /// The bytes of one written secret, or `nil` when it cannot be decoded.
    public static func decodeSecret(_ secret: String) -> [UInt8]? {
        if secret.hasPrefix("hex:") { return Hex.decode(String(secret.dropFirst(4))) }
        if secret.hasPrefix("base64:") { return decodeBase64(String(secret.dropFirst(7))) }
        if secret.hasPrefix("text:") { return Array(secret.utf8.dropFirst(5)) }
        if let hex = Hex.decode(secret) { return hex }
        return decodeBase64(secret)
    }

    /// The secrets of the key file at `path`: one per line, blank lines and `#` lines skipped. Refuses a file
    /// that group or others may access (it should be mode 0600 or 0400) and anything but a regular file.
    public static func secrets(inFile path: String) throws(ConfigurationError) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigurationError("cannot read key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ConfigurationError("key file \(path) is not a regular file")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ConfigurationError("key file \(path) is accessible by group or others (mode 0\(String(st.st_mode & 0o777, radix: 8))); "
                + "make it private: chmod 600 \(path)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ConfigurationError("cannot read key file \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 1 << 16 else { throw ConfigurationError("key file \(path) is larger than 64 KiB") }
        }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// The secrets in an environment variable's value, separated by commas or white space.
    public static func secrets(inEnvironmentValue value: String) -> [String] {
        value.split { $0 == "," || $0.isWhitespace }.map(String.init)
    }

    /// The ring an option table describes, or `nil` when it names no key. Secrets are collected in this order
    /// (the first one found signs): `keys` (a secret or a list), then each of `textOptions` (older options whose
    /// bare values are UTF-8 text), then `keys_file`, then the variable `keys_env` names (default
    /// `environmentVariable`; `keys_env = ""` turns it off; a variable named explicitly must be set).
    public static func fromOptions(_ options: Options, environmentVariable: String, textOptions: [String] = [],
                                   environment: (String) -> String? = KeyRing.processEnvironment)
        throws(ConfigurationError) -> KeyRing? {
        var secrets: [(origin: String, secret: String)] = try options.strings("keys", default: []).map { ("keys", $0) }
        for name in textOptions {
            for value in try options.strings(name, default: []) {
                let prefixed = ["hex:", "base64:", "text:"].contains { value.hasPrefix($0) }
                secrets.append((name, prefixed ? value : "text:" + value))
            }
        }
        if let file = try options.string("keys_file") {
            do throws(ConfigurationError) {
                secrets += try KeyRing.secrets(inFile: file).map { ("keys_file", $0) }
            } catch {
                throw ConfigurationError("\(options.origin): keys_file: \(error.message)")
            }
        }
        let variable = try options.string("keys_env")
        let name = variable ?? environmentVariable
        if !name.isEmpty {
            let value = environment(name) ?? ""
            if value.isEmpty, variable != nil {
                throw ConfigurationError("\(options.origin): keys_env: the environment variable \(name) is not set")
            }
            secrets += KeyRing.secrets(inEnvironmentValue: value).map { ("$\(name)", $0) }
        }
        guard !secrets.isEmpty else { return nil }
        var keys: [[UInt8]] = []
        for (origin, secret) in secrets {
            do throws(ConfigurationError) {
                keys.append(try KeyRing(secrets: [secret]).keys[0])
            } catch {
                throw ConfigurationError("\(options.origin): \(origin): \(error.message)")
            }
        }
        return try KeyRing(keys: keys)
    }

    /// The process environment's value for `name` (`getenv`).
    public static func processEnvironment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func decodeBase64(_ text: String) -> [UInt8]? {
        Base64URL.decode(String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }))
    }
}
