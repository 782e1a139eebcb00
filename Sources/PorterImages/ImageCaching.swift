import Crypto
import Porter

/// Validators for a response: a strong ETag and Last-Modified derived from the source file and the parameters.
struct ImageValidators: Sendable {
    /// The quoted entity tag.
    let etag: String
    /// The source's modification time (whole seconds).
    let lastModified: Int

    /// Validators for `relative` (the root-relative path) as `variant` (normalized parameters, or `original`).
    init(relative: String, file: SourceFile, variant: String) {
        let material = "\(relative)\u{0}\(file.size)\u{0}\(file.modifiedSeconds).\(file.modifiedNanoseconds)\u{0}\(variant)"
        let digest = SHA256.hash(data: Array(material.utf8))
        let hex = digest.prefix(16).map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
        etag = "\"\(hex)\""
        lastModified = file.modifiedSeconds
    }

    /// Whether the request's conditional headers say the client's copy is current (answer 304).
    ///
    /// `If-None-Match` wins when present (weak comparison, `*` matches); otherwise `If-Modified-Since`.
    func notModified(_ headers: HTTPHeaders) -> Bool {
        let inm = headers.values(for: "If-None-Match")
        if !inm.isEmpty {
            for candidate in inm.joined(separator: ",").split(separator: ",") {
                var tag = candidate.trimmingSpaces()
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
                if tag == etag { return true }
            }
            return false
        }
        if let since = headers["If-Modified-Since"], let date = HTTPDate.parse(since).map(Int.init) {
            return lastModified <= date
        }
        return false
    }

    /// Sets `ETag` and `Last-Modified` on `headers`.
    func apply(to headers: inout HTTPHeaders) {
        headers["ETag"] = etag
        headers["Last-Modified"] = HTTPDate.rfc1123(Int64(lastModified))
    }
}

/// Content negotiation on `Accept`.
enum AcceptHeader {
    /// Whether `accept` lists `mediaType` (exactly, not through wildcards) with a non-zero q.
    static func accepts(_ accept: String?, _ mediaType: String) -> Bool {
        guard let accept else { return false }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces() }
            guard let type = parts.first, type.lowercased() == mediaType else { continue }
            let q = parts.dropFirst().first { $0.lowercased().hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return true }
        }
        return false
    }
}
