import Crypto
import Foundation
import Porter

/// Signs and verifies image URLs with HMAC-SHA256, so only the site's own pages can ask for new sizes.
///
/// The signed message is `<path>?<items>`: the decoded request path (e.g. `/images/photos/cat.jpg`), a `?`,
/// then every query item except `sig`, sorted by name, written `name=value` (decoded) and joined with `&`
/// (e.g. `/images/photos/cat.jpg?fit=cover&h=200&w=300`). The signature is the unpadded base64url encoding
/// of the 32-byte MAC, sent as the last item `sig=`. The key is the UTF-8 bytes of the configured string.
public struct ImageURLSigner: Sendable {
    /// Key bytes (SymmetricKey is not Sendable, so keys are kept as bytes and wrapped per use).
    private let keys: [[UInt8]]

    /// A signer with one key.
    public init(key: String) {
        self.init(keys: [key])
    }

    /// A signer that signs with the first key and accepts signatures made with any of them (key rotation).
    public init(keys: [String]) {
        precondition(!keys.isEmpty, "ImageURLSigner needs at least one key")
        self.keys = keys.map { Array($0.utf8) }
    }

    /// The exact text that is signed for `path` and `query` (`sig` is left out).
    public static func canonicalMessage(path: String, query: [(name: String, value: String)]) -> String {
        let items = query.filter { $0.name != "sig" }
            .sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
            .map { "\($0.name)=\($0.value)" }
        return path + "?" + items.joined(separator: "&")
    }

    /// The `sig=` value for `path` and `query`.
    public func signature(path: String, query: [(name: String, value: String)]) -> String {
        let message = Array(ImageURLSigner.canonicalMessage(path: path, query: query).utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: keys[0]))
        return Base64URL.encode(Array(mac))
    }

    /// Whether `signature` is valid for `path` and `query` under any key (constant-time comparison).
    public func isValid(signature: String, path: String, query: [(name: String, value: String)]) -> Bool {
        guard let mac = Base64URL.decode(signature), mac.count == SHA256.byteCount else { return false }
        let message = Array(ImageURLSigner.canonicalMessage(path: path, query: query).utf8)
        var valid = false
        for key in keys where HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: SymmetricKey(data: key)) {
            valid = true
        }
        return valid
    }

    /// A signed URL (path segments percent-encoded, items in signing order, `sig` last) for `path` + `query`.
    public func signedURL(path: String, query: [(name: String, value: String)]) -> String {
        let items = query.filter { $0.name != "sig" }
            .sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        var url = ImageURLSigner.encodePath(path) + "?"
        for item in items {
            url += PercentEncoding.encode(item.name) + "=" + PercentEncoding.encode(item.value) + "&"
        }
        return url + "sig=" + signature(path: path, query: items)
    }

    /// A signed URL asking for `parameters` of the image at `path` (e.g. `/images/cat.jpg`).
    public func signedURL(path: String, parameters: ImageParameters) -> String {
        signedURL(path: path, query: parameters.queryItems)
    }

    /// Percent-encodes each segment of a path, keeping the slashes.
    static func encodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { PercentEncoding.encode(String($0)) }
            .joined(separator: "/")
    }
}
