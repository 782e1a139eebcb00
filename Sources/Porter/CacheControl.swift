/// The `Cache-Control` directives Porter acts on (RFC 9111 §5.2.2): one reader for every place that asks.
public enum CacheControl {
    /// Whether a `Cache-Control` value keeps a response out of shared caches such as nginx's: a `private`, `no-store`
    /// or `no-cache` directive (the qualified `no-cache="Set-Cookie"` included), names compared in any case. Other
    /// directives that merely contain those words (`x-no-store-ext`) do not count.
    public static func forbidsSharedCaching(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.split(separator: ",").contains { directive in
            let name = (directive.split(separator: "=", maxSplits: 1).first ?? "").trimmingSpaces()
            return name.equalsIgnoringASCIICase("private") || name.equalsIgnoringASCIICase("no-store")
                || name.equalsIgnoringASCIICase("no-cache")
        }
    }
}
