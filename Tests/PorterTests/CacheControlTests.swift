import Porter
import Testing

/// The one `Cache-Control` reader the output cache and the feed handler's edge expiry share.
@Suite struct CacheControlTests {
    @Test("which values keep a response out of shared caches", arguments: [
        (nil, false), ("", false), ("public, max-age=60", false), ("max-age=0", false),
        ("private", true), ("no-store", true), ("no-cache", true),
        ("public, No-Cache", true), ("PRIVATE", true), ("max-age=60,\tno-store ", true),
        ("public, max-age=60, no-cache=\"Set-Cookie\"", true), ("private=\"X-Secret\"", true),
        // Directive names, not substrings: an extension that contains the words is not one of them.
        ("x-no-store-ext", false), ("public, notprivate", false), ("no-cache-ext=1", false),
        ("no-transform, immutable", false),
    ] as [(String?, Bool)])
    func forbidsSharedCaching(_ value: String?, _ expected: Bool) {
        #expect(CacheControl.forbidsSharedCaching(value) == expected, "\(value ?? "nil")")
    }
}
