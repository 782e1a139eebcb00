import Porter

/// Signs and verifies image URLs with the key ring, so only the site's own pages can ask for new sizes.
///
/// The signed message is `<path>?<items>`: the decoded request path (e.g. `/images/photos/cat.jpg`), a `?`,
/// then every query item except `sig`, sorted by name, written `name=value` (decoded) and joined with `&`
/// (e.g. `/images/photos/cat.jpg?fit=cover&h=200&w=300`). The signature is the unpadded base64url encoding
/// of the 32-byte MAC `KeyRing` makes for the purpose `porter.image-url` (HMAC-SHA256 with the key's
/// HKDF-SHA256 subkey: salt `porter-key-ring-v1`, info `porter.image-url`), sent as the last item `sig=`.
public struct ImageURLSigner: Sendable {
    /// The key-ring purpose of image URLs: their signatures are never valid for anything else.
    public static let signingPurpose = "porter.image-url"

    /// The keys: the first signs, all verify (rotation).
    public let keys: KeyRing

    /// A signer over `keys`.
    public init(keys: KeyRing) {
        self.keys = keys
    }

    /// `query` without `sig`, in the order the signature covers them (by name, then value).
    public static func signingOrder(_ query: [(name: String, value: String)]) -> [(name: String, value: String)] {
        query.filter { $0.name != "sig" }.sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
    }

    /// The exact text that is signed for `path` and `query` (`sig` is left out).
    public static func canonicalMessage(path: String, query: [(name: String, value: String)]) -> String {
        let items = signingOrder(query).map { "\($0.name)=\($0.value)" }
        return path + "?" + items.joined(separator: "&")
    }

    /// The `sig=` value for `path` and `query`.
    public func signature(path: String, query: [(name: String, value: String)]) -> String {
        let message = Array(ImageURLSigner.canonicalMessage(path: path, query: query).utf8)
        return Base64URL.encode(keys.sign(message, purpose: ImageURLSigner.signingPurpose))
    }

    /// Whether `signature` is valid for `path` and `query` under any key (constant-time comparison).
    public func isValid(signature: String, path: String, query: [(name: String, value: String)]) -> Bool {
        guard let mac = Base64URL.decode(signature) else { return false }
        let message = Array(ImageURLSigner.canonicalMessage(path: path, query: query).utf8)
        return keys.verify(message, signature: mac, purpose: ImageURLSigner.signingPurpose) != nil
    }

    /// A signed URL (path segments percent-encoded, items in signing order, `sig` last) for `path` + `query`.
    public func signedURL(path: String, query: [(name: String, value: String)]) -> String {
        Self.url(path: path, query: query, signature: signature(path: path, query: Self.signingOrder(query)))
    }

    /// The one spelling of a URL for `path` + `query`: the path percent-encoded (`encodePath`), the items in signing
    /// order (names and values percent-encoded), `sig=signature` last when given.
    public static func url(path: String, query: [(name: String, value: String)], signature: String?) -> String {
        var url = PercentEncoding.encodePath(path) + "?"
        var items = signingOrder(query).map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }
        if let signature { items.append("sig=" + PercentEncoding.encode(signature)) }
        url += items.joined(separator: "&")
        return url
    }

    /// A signed URL asking for `parameters` of the image at `path` (e.g. `/images/cat.jpg`).
    public func signedURL(path: String, parameters: ImageParameters) -> String {
        signedURL(path: path, query: parameters.queryItems)
    }
}
