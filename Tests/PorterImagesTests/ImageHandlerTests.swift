#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Porter
@testable import PorterImages
import PorterTesting
import Testing

/// Resizing, formats, originals and negotiation, through a real Pipeline and real libvips.
@Suite struct ImageResizeTests {
    struct SizeCase: CustomTestStringConvertible, Sendable {
        let query: String
        let width: Int
        let height: Int
        var testDescription: String { query }
    }

    /// photo.jpg is 640×480.
    static let sizeCases: [SizeCase] = [
        .init(query: "w=300&h=200&fit=cover", width: 300, height: 200),
        .init(query: "w=300&h=200&fit=contain", width: 267, height: 200),
        .init(query: "w=300&h=200&fit=fill", width: 300, height: 200),
        .init(query: "w=300&h=200&fit=inside", width: 267, height: 200),
        .init(query: "w=300&h=200", width: 267, height: 200),
        .init(query: "w=1000&h=1000&fit=inside", width: 640, height: 480),
        .init(query: "w=1000&h=1000&fit=contain", width: 1000, height: 750),
        .init(query: "w=1000&h=500&fit=cover", width: 1000, height: 500),
        .init(query: "w=1000&h=500&fit=fill", width: 1000, height: 500),
        .init(query: "w=300", width: 300, height: 225),
        .init(query: "h=120", width: 160, height: 120),
        .init(query: "w=300&fit=cover", width: 300, height: 225),
        .init(query: "w=2000", width: 640, height: 480),
        .init(query: "w=150&dpr=2", width: 300, height: 225),
        .init(query: "w=200&h=100&dpr=1.5&fit=cover", width: 300, height: 150),
        .init(query: "fmt=png", width: 640, height: 480),
        .init(query: "q=50", width: 640, height: 480),
    ]

    @Test(arguments: sizeCases)
    func outputDimensions(_ c: SizeCase) async throws {
        let handler = try makeHandler()
        let ctx = try await makeClient(handler).execute(.get, "/images/photo.jpg?" + c.query)
        #expect(ctx.response.status == .ok)
        let bytes = try await body(of: ctx.response)
        let decoded = try #require(decode(bytes))
        #expect(decoded.width == c.width)
        #expect(decoded.height == c.height)
        #expect(handler.statistics.resizes == 1)
    }

    struct FormatCase: CustomTestStringConvertible, Sendable {
        let uri: String
        let accept: String?
        let format: SourceFormat
        let contentType: String
        let bands: Int?
        let vary: Bool
        var testDescription: String { "\(uri) Accept: \(accept ?? "-")" }
    }

    static let formatCases: [FormatCase] = [
        .init(uri: "/images/photo.jpg?w=100", accept: nil, format: .jpeg, contentType: "image/jpeg", bands: 3, vary: true),
        .init(uri: "/images/photo.jpg?w=100", accept: "image/avif,image/webp,*/*", format: .webp, contentType: "image/webp", bands: 3, vary: true),
        .init(uri: "/images/photo.jpg?w=100", accept: "image/webp;q=0, */*", format: .jpeg, contentType: "image/jpeg", bands: 3, vary: true),
        .init(uri: "/images/photo.jpg?w=100&fmt=png", accept: "image/webp", format: .png, contentType: "image/png", bands: 3, vary: false),
        .init(uri: "/images/photo.jpg?w=100&fmt=jpg", accept: "image/webp", format: .jpeg, contentType: "image/jpeg", bands: 3, vary: false),
        .init(uri: "/images/alpha.png?w=100", accept: nil, format: .png, contentType: "image/png", bands: 4, vary: true),
        .init(uri: "/images/alpha.png?w=100&fmt=jpeg", accept: nil, format: .jpeg, contentType: "image/jpeg", bands: 3, vary: false),
        .init(uri: "/images/alpha.png?w=100&fmt=webp", accept: nil, format: .webp, contentType: "image/webp", bands: 4, vary: false),
        .init(uri: "/images/photo.webp?w=100", accept: nil, format: .webp, contentType: "image/webp", bands: 3, vary: true),
        .init(uri: "/images/photo.webp?w=100&fmt=jpeg", accept: nil, format: .jpeg, contentType: "image/jpeg", bands: 3, vary: false),
        .init(uri: "/images/photo.jpg?w=64&fmt=avif", accept: nil, format: .avif, contentType: "image/avif", bands: nil, vary: false),
    ]

    @Test(arguments: formatCases)
    func outputFormats(_ c: FormatCase) async throws {
        let handler = try makeHandler()
        var headers = HTTPHeaders()
        if let accept = c.accept { headers["Accept"] = accept }
        let ctx = try await makeClient(handler).execute(.get, c.uri, headers: headers)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.headers["Content-Type"] == c.contentType)
        #expect((ctx.response.headers["Vary"] == "Accept") == c.vary)
        let decoded = try #require(decode(try await body(of: ctx.response)))
        #expect(decoded.format == c.format)
        #expect(decoded.width == 100 || c.format == .avif)
        if let bands = c.bands { #expect(decoded.bands == bands) }
    }

    @Test func avifIsSupportedHere() throws {
        // Debian bookworm's libvips 8.14 + libheif 1.15 with libaom: AV1 encoding works.
        #expect(try makeHandler().supportsAVIF)
    }

    @Test func originalBytesWithoutParameters() async throws {
        let handler = try makeHandler()
        let client = try makeClient(handler)
        for (name, type) in [("photo.jpg", "image/jpeg"), ("alpha.png", "image/png"), ("large.png", "image/png"),
                             ("sub/deeper/photo copy.jpg", "image/jpeg"), ("inside-link.jpg", "image/jpeg")] {
            let uri = "/images/" + name.split(separator: "/").map { PercentEncoding.encode(String($0)) }.joined(separator: "/")
            let ctx = await client.execute(.get, uri)
            #expect(ctx.response.status == .ok, "\(name)")
            #expect(ctx.response.headers["Content-Type"] == type)
            #expect(ctx.response.headers["Vary"] == nil)
            #expect(ctx.response.headers["ETag"] != nil)
            let bytes = try await body(of: ctx.response)
            let real = name == "inside-link.jpg" ? "photo.jpg" : name
            #expect(bytes == ImageFixtures.read(ImageFixtures.root + "/" + real), "\(name)")
        }
        // large.png is over 1 MiB: it is streamed, not buffered.
        let large = await client.execute(.get, "/images/large.png")
        #expect(large.response.bufferedBody == nil)
        #expect(handler.statistics.resizes == 0)
    }

    @Test func formatsOutsideTheAllowedListAreRefused() async throws {
        let handler = try makeHandler { $0.formats = [.jpeg, .webp] }
        let client = try makeClient(handler)
        #expect(await client.execute(.get, "/images/photo.jpg?w=10&fmt=png").response.status == .badRequest)
        #expect(await client.execute(.get, "/images/photo.jpg?w=10&fmt=avif").response.status == .badRequest)
        // A PNG source with no fmt falls back to an allowed format.
        let ctx = await client.execute(.get, "/images/alpha.png?w=10")
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.headers["Content-Type"] == "image/jpeg")
    }
}

/// Path confinement, parameter validation and refusals (signing off).
@Suite struct ImageSecurityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let method: HTTPMethod
        let uri: String
        let status: Int
        init(_ uri: String, _ status: Int, method: HTTPMethod = .get) {
            self.method = method
            self.uri = uri
            self.status = status
        }
        var testDescription: String { "\(method) \(uri) → \(status)" }
    }

    static let cases: [Case] = [
        // Traversal, absolute paths, NUL, encoded traversal.
        .init("/images/../outside/secret.jpg", 400),
        .init("/images/sub/../../outside/secret.jpg?w=10", 400),
        .init("/images/./photo.jpg", 400),
        .init("/images/%2e%2e/outside/secret.jpg", 400),
        .init("/images/%2E%2E%2Foutside%2Fsecret.jpg?w=10", 400),
        .init("/images/sub%2f..%2f..%2fphoto.jpg", 400),
        .init("/images/..%5coutside%5csecret.jpg", 400),
        .init("/images//etc/passwd.jpg", 400),
        .init("/images/sub//photo.jpg", 400),
        .init("/images/photo.jpg%00.png", 400),
        .init("/images/photo%00.jpg?w=10", 400),
        .init("/images/sub\\..\\photo.jpg", 400),
        // Symlinks pointing out of the root, missing and hidden files, non-image extensions.
        .init("/images/escape.jpg", 404),
        .init("/images/escape.jpg?w=10", 404),
        .init("/images/linkdir/secret.jpg?w=10", 404),
        .init("/images/passwd.jpg", 404),
        .init("/images/missing.jpg?w=10", 404),
        .init("/images/sub", 404),
        .init("/images/sub/deeper", 404),
        .init("/images/.hidden.jpg", 404),
        .init("/images/photo.txt", 404),
        .init("/imagesphoto.jpg", 404),
        .init("/other/photo.jpg", 404),
        // Parameters.
        .init("/images/photo.jpg?w=300&w=400", 400),
        .init("/images/photo.jpg?w=0", 400),
        .init("/images/photo.jpg?w=-5", 400),
        .init("/images/photo.jpg?w=abc", 400),
        .init("/images/photo.jpg?w=%2B30", 400),
        .init("/images/photo.jpg?w=300%00", 400),
        .init("/images/photo.jpg?w=", 400),
        .init("/images/photo.jpg?w=4097", 400),
        .init("/images/photo.jpg?h=5000", 400),
        .init("/images/photo.jpg?w=3000&dpr=2", 400),
        .init("/images/photo.jpg?w=10&dpr=5", 400),
        .init("/images/photo.jpg?w=10&dpr=0", 400),
        .init("/images/photo.jpg?w=10&dpr=1e3", 400),
        .init("/images/photo.jpg?w=10&fit=stretch", 400),
        .init("/images/photo.jpg?w=10&fmt=gif", 400),
        .init("/images/photo.jpg?w=10&q=0", 400),
        .init("/images/photo.jpg?w=10&q=101", 400),
        .init("/images/photo.jpg?w=10&foo=1", 400),
        .init("/images/photo.jpg?w=4096", 200),
        .init("/images/photo.jpg?w=2048&dpr=2", 200),
        // Sources the server will not decode.
        .init("/images/notimage.jpg?w=10", 415),
        .init("/images/notimage.jpg", 415),
        .init("/images/bomb.png?w=10", 422),
        .init("/images/headeronly.jpg?w=10", 422),
        .init("/images/garbage.png?w=10", 422),
        .init("/images/svg.png?w=10", 415),
        .init("/images/truncated.jpg?w=10", 422),
        // Verbs.
        .init("/images/photo.jpg", 405, method: .post),
        .init("/images/photo.jpg?w=10", 200, method: .head),
    ]

    @Test(arguments: cases)
    func refusals(_ c: Case) async throws {
        let handler = try makeHandler()
        let ctx = try await makeClient(handler).execute(c.method, c.uri)
        #expect(ctx.response.status.code == c.status, "\(ctx.response.bodyText)")
        if c.status >= 400 {
            #expect(!ctx.response.bodyText.contains(ImageFixtures.base), "no internal paths in error messages")
        }
    }

    @Test func handlerRefusesOtherVerbsItself() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "images", path: "/images/*", handler: try makeHandler())
        let ctx = await PipelineTestClient(registry: registry).execute(.delete, "/images/photo.jpg")
        #expect(ctx.response.status == .methodNotAllowed)
        #expect(ctx.response.headers["Allow"] == "GET, HEAD")
    }

    @Test func decompressionBombIsRefusedFromTheHeaderAlone() async throws {
        let handler = try makeHandler()
        let ctx = try await makeClient(handler).execute(.get, "/images/bomb.png?w=100")
        #expect(ctx.response.status == .unprocessableContent)
        #expect(ctx.response.bodyText.contains("100000x100000"))
        // Refused from the header: nothing was decoded or resized (no timing assertions in unit tests).
        #expect(handler.statistics.bombsRefused == 1)
        #expect(handler.statistics.resizes == 0)
    }

    @Test func sourcePixelLimitIsConfigurable() async throws {
        let handler = try makeHandler { $0.maxSourcePixels = 640 * 480 - 1 }
        let client = try makeClient(handler)
        #expect(await client.execute(.get, "/images/photo.jpg?w=10").response.status == .unprocessableContent)
        #expect(await client.execute(.get, "/images/alpha.png?w=10").response.status == .ok)
    }

    @Test func sourceFileSizeLimit() async throws {
        let handler = try makeHandler { $0.maxSourceBytes = 1000 }
        #expect(try await makeClient(handler).execute(.get, "/images/photo.jpg?w=10").response.status == .payloadTooLarge)
    }
}

/// HMAC-signed URLs.
@Suite struct ImageSigningTests {
    static let key = "test-signing-key-0123456789abcdef"

    /// A key ring of text secrets.
    static func ring(_ texts: String...) throws -> KeyRing { try KeyRing(secrets: texts.map { "text:" + $0 }) }

    @Test func canonicalMessageAndKnownSignature() throws {
        let query = [(name: "w", value: "300"), (name: "h", value: "200"), (name: "fit", value: "cover")]
        #expect(ImageURLSigner.canonicalMessage(path: "/images/photo.jpg", query: query)
                == "/images/photo.jpg?fit=cover&h=200&w=300")
        // Computed independently with Python's hmac (HKDF-SHA256 of the key, salt porter-key-ring-v1, info
        // porter.image-url; then HMAC-SHA256) + base64.urlsafe_b64encode (padding stripped).
        let signer = ImageURLSigner(keys: try Self.ring(Self.key))
        #expect(signer.signature(path: "/images/photo.jpg", query: query) == "TXMBFCFco8jdr8OtZQU6y9-Fd6Qrr8XMKmSnbJpaYm0")
        let url = signer.signedURL(path: "/images/photo.jpg", parameters: ImageParameters(width: 300, height: 200, fit: .cover))
        #expect(url == "/images/photo.jpg?fit=cover&h=200&w=300&sig=TXMBFCFco8jdr8OtZQU6y9-Fd6Qrr8XMKmSnbJpaYm0")
        // The plain HMAC of the key (no purpose subkey) is not accepted.
        #expect(!signer.isValid(signature: "vEevqnjUV13h8AACT-4YhfFJ0CoNGoU8TDJa1zXU3r4", path: "/images/photo.jpg", query: query))
    }

    @Test func signedURLsAreAcceptedAndOthersRefused() async throws {
        let keys = try ImageSigningTests.ring(ImageSigningTests.key)
        let handler = try makeHandler { $0.signingKeys = keys }
        let client = try makeClient(handler)
        let signer = ImageURLSigner(keys: keys)
        let good = signer.signedURL(path: "/images/photo.jpg", parameters: ImageParameters(width: 120, fit: .inside, format: .webp))
        #expect(handler.url(path: "/images/photo.jpg", parameters: ImageParameters(width: 120, fit: .inside, format: .webp)) == good)

        let ok = await client.execute(.get, good)
        #expect(ok.response.status == .ok)
        #expect(ok.response.headers["Cache-Control"] == "public, max-age=31536000, immutable")
        #expect(decode(try await body(of: ok.response))?.width == 120)

        let sig = String(good.split(separator: "sig=").last!)
        let other = ImageURLSigner(keys: try ImageSigningTests.ring("another-key-0123456789abcdef-0123"))
        let refused: [String] = [
            "/images/photo.jpg?w=120&fit=inside&fmt=webp",                       // no signature
            "/images/photo.jpg?w=121&fit=inside&fmt=webp&sig=\(sig)",             // parameter changed
            "/images/photo.jpg?w=120&fit=inside&sig=\(sig)",                      // parameter dropped
            "/images/photo.jpg?w=120&fit=inside&fmt=webp&q=90&sig=\(sig)",        // parameter added
            "/images/alpha.png?w=120&fit=inside&fmt=webp&sig=\(sig)",             // other path
            "/images/photo.jpg?w=120&fit=inside&fmt=webp&sig=not-base64!",        // garbage
            "/images/photo.jpg?w=120&fit=inside&fmt=webp&sig=\(sig.dropLast(2))",  // truncated
            other.signedURL(path: "/images/photo.jpg", parameters: ImageParameters(width: 120, fit: .inside, format: .webp)),
        ]
        for uri in refused {
            let ctx = await client.execute(.get, uri)
            #expect(ctx.response.status == .forbidden, "\(uri)")
        }
        // Another spelling of the same signed resize (item order, encoded characters, an empty item) is valid, and is
        // redirected to the one spelling nginx caches (each spelling was a cache MISS and a resize); no resize for it.
        for spelling in ["/images/photo.jpg?fmt=webp&w=120&sig=\(sig)&fit=inside", "/images/%70hoto.jpg?w=120&fit=inside&fmt=webp&sig=\(sig)",
                         "/images/photo.jpg?fit=inside&fmt=webp&w=%31%32%30&sig=\(sig)", good + "&", "/images/photo.jpg?&" + good.split(separator: "?")[1]] {
            let redirected = await client.execute(.get, spelling)
            #expect(redirected.response.status == .movedPermanently && redirected.response.headers["Location"] == good, "\(spelling)")
        }
        #expect(handler.statistics.resizes == 1)
        #expect(await client.execute(.get, good).response.status == .ok)
        // Originals need no signature (nginx serves them anyway).
        #expect(await client.execute(.get, "/images/photo.jpg").response.status == .ok)
        #expect(handler.statistics.resizes == 2)
    }

    @Test func keyRotationAcceptsEveryConfiguredKey() async throws {
        let old = "old-signing-key-0123456789abcdef", new = "new-signing-key-0123456789abcdef"
        let rotated = try ImageSigningTests.ring(new, old)
        let handler = try makeHandler { $0.signingKeys = rotated }
        let client = try makeClient(handler)
        let parameters = ImageParameters(width: 50)
        #expect(handler.url(path: "/images/photo.jpg", parameters: parameters)
                == ImageURLSigner(keys: try ImageSigningTests.ring(new)).signedURL(path: "/images/photo.jpg", parameters: parameters))
        for key in [new, old] {
            let uri = ImageURLSigner(keys: try ImageSigningTests.ring(key)).signedURL(path: "/images/photo.jpg", parameters: parameters)
            #expect(await client.execute(.get, uri).response.status == .ok)
        }
        // Retired: a URL signed with the old key is refused once the old key is gone.
        let newOnly = try ImageSigningTests.ring(new)
        let retired = try makeClient(try makeHandler { $0.signingKeys = newOnly })
        let oldURI = ImageURLSigner(keys: try ImageSigningTests.ring(old)).signedURL(path: "/images/photo.jpg", parameters: parameters)
        #expect(await retired.execute(.get, oldURI).response.status == .forbidden)
    }

    @Test func signedPathsWithSpacesAndSubdirectories() async throws {
        let keys = try ImageSigningTests.ring(ImageSigningTests.key)
        let handler = try makeHandler { $0.signingKeys = keys }
        let uri = handler.url(path: "/images/sub/deeper/photo copy.jpg", parameters: ImageParameters(height: 30))
        #expect(uri.hasPrefix("/images/sub/deeper/photo%20copy.jpg?h=30&sig="))
        let ctx = try await makeClient(handler).execute(.get, uri)
        #expect(ctx.response.status == .ok)
        #expect(decode(try await body(of: ctx.response))?.height == 30)
    }
}

/// ETag / Last-Modified / 304 and Cache-Control.
@Suite struct ImageCachingTests {
    @Test func conditionalRequests() async throws {
        let handler = try makeHandler()
        let client = try makeClient(handler)
        let first = await client.execute(.get, "/images/photo.jpg?w=100")
        #expect(first.response.status == .ok)
        #expect(first.response.headers["Cache-Control"] == "public, max-age=3600")
        let etag = try #require(first.response.headers["ETag"])
        let lastModified = try #require(first.response.headers["Last-Modified"])
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))

        let cases: [(HTTPHeaders, HTTPStatus)] = [
            (["If-None-Match": etag], .notModified),
            (["If-None-Match": "W/" + etag], .notModified),
            (["If-None-Match": "\"other\", " + etag], .notModified),
            (["If-None-Match": "*"], .notModified),
            (["If-None-Match": "\"other\""], .ok),
            (["If-Modified-Since": lastModified], .notModified),
            (["If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"], .ok),
            (["If-Modified-Since": "not a date"], .ok),
            (["If-None-Match": "\"other\"", "If-Modified-Since": lastModified], .ok),  // If-None-Match wins
        ]
        var resizes = 1
        for (headers, status) in cases {
            let ctx = await client.execute(.get, "/images/photo.jpg?w=100", headers: headers)
            #expect(ctx.response.status == status, "\(headers.fields)")
            if status == .notModified {
                #expect(ctx.response.bufferedBody == [])
                #expect(ctx.response.headers["ETag"] == etag)
                #expect(ctx.response.headers["Vary"] == "Accept")
            } else {
                resizes += 1
            }
        }
        // A 304 never resizes.
        #expect(handler.statistics.resizes == resizes)
    }

    @Test func etagsDependOnParametersFormatAndSource() async throws {
        let handler = try makeHandler()
        let client = try makeClient(handler)
        func etag(_ uri: String, accept: String? = nil) async -> String? {
            var headers = HTTPHeaders()
            if let accept { headers["Accept"] = accept }
            return await client.execute(.get, uri, headers: headers).response.headers["ETag"]
        }
        let a = await etag("/images/photo.jpg?w=100")
        #expect(a != nil)
        #expect(await etag("/images/photo.jpg?w=100") == a)
        #expect(await etag("/images/photo.jpg?w=100&fmt=jpeg&q=80") == a, "same normalized parameters")
        #expect(await etag("/images/photo.jpg?w=101") != a)
        #expect(await etag("/images/photo.jpg?w=100", accept: "image/webp") != a)
        #expect(await etag("/images/photo.jpg") != a)

        // Touching the source changes the validators.
        let path = ImageFixtures.base + "/root/touched.jpg"
        ImageFixtures.write(path, ImageFixtures.read(ImageFixtures.root + "/photo.jpg"))
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        let before = await client.execute(.get, "/images/touched.jpg?w=100").response
        #expect(before.headers["Last-Modified"] == "Sun, 09 Sep 2001 01:46:40 GMT")
        times = [timespec(tv_sec: 1_100_000_000, tv_nsec: 0), timespec(tv_sec: 1_100_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        let after = await client.execute(.get, "/images/touched.jpg?w=100").response
        #expect(after.headers["ETag"] != before.headers["ETag"])
        #expect(await client.execute(.get, "/images/touched.jpg?w=100",
                                     headers: ["If-None-Match": before.headers["ETag"]!]).response.status == .ok)
    }

    @Test func originalsAnswer304Too() async throws {
        let client = try makeClient(try makeHandler())
        let first = await client.execute(.get, "/images/alpha.png")
        let etag = try #require(first.response.headers["ETag"])
        let again = await client.execute(.get, "/images/alpha.png", headers: ["If-None-Match": etag])
        #expect(again.response.status == .notModified)
    }

    @Test func httpDates() {
        #expect(HTTPDate.rfc1123(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.rfc1123(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        for t: Int64 in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            #expect(HTTPDate.parse(HTTPDate.rfc1123(t)) == t)
        }
        // RFC 9110: recipients accept the obsolete RFC 850 and asctime forms too.
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("not a date") == nil)
    }
}

/// The thread pool, the admission limit (503 + Retry-After) and request coalescing.
@Suite struct ImageConcurrencyTests {
    /// Occupies the handler's single resize thread until `release` is signalled.
    static func block(_ handler: ImageHandler) async throws -> DispatchSemaphore {
        let release = DispatchSemaphore(value: 0)
        #expect(handler.resizer.trySubmit { release.wait() })
        try await waitUntil("the blocking job to occupy the resize thread") { handler.resizer.pool.runningCount == 1 }
        return release
    }

    @Test func identicalConcurrentRequestsShareOneResize() async throws {
        let handler = try makeHandler { $0.threads = 1; $0.queueLimit = 2 }
        let client = try makeClient(handler)
        let release = try await ImageConcurrencyTests.block(handler)
        let results = try await withThrowingTaskGroup(of: (HTTPStatus, [UInt8]).self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let ctx = await client.execute(.get, "/images/photo.jpg?w=200&h=200&fit=cover")
                    return (ctx.response.status, ctx.response.bufferedBody ?? [])
                }
            }
            do {
                try await waitUntil("20 requests sharing one resize job (now \(handler.resizer.inFlightCounts))") {
                    handler.resizer.inFlightCounts == (1, 20)
                }
            } catch {
                release.signal()   // let the requests finish before the group is left
                throw error
            }
            release.signal()
            var all: [(HTTPStatus, [UInt8])] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 20)
        #expect(results.allSatisfy { $0.0 == .ok })
        #expect(Set(results.map(\.1)).count == 1, "every waiter got the same bytes")
        #expect(decode(results[0].1)?.width == 200)
        #expect(handler.statistics.resizes == 1)
        #expect(handler.statistics.coalesced == 19)
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        let handler = try makeHandler { $0.threads = 1; $0.queueLimit = 1 }
        let client = try makeClient(handler)
        let release = try await ImageConcurrencyTests.block(handler)
        let waiting = Task { await client.execute(.get, "/images/photo.jpg?w=100").response.status }
        try await waitUntil("one resize waiting in the queue") { handler.resizer.pool.pendingCount == 1 }
        let refused = await client.execute(.get, "/images/photo.jpg?w=101")
        #expect(refused.response.status == .serviceUnavailable, "server busy is 503; 429 is for per-client rate limits")
        #expect(refused.response.headers["Retry-After"] == "1")
        release.signal()
        #expect(await waiting.value == .ok)
        #expect(handler.statistics.rejected == 1)
        #expect(await client.execute(.get, "/images/photo.jpg?w=101").response.status == .ok)
    }

    @Test func queueLimitZeroAdmitsOnlyWhatTheThreadsRun() async throws {
        let handler = try makeHandler { $0.threads = 1; $0.queueLimit = 0 }
        let client = try makeClient(handler)
        #expect(await client.execute(.get, "/images/photo.jpg?w=60").response.status == .ok)
        let release = try await ImageConcurrencyTests.block(handler)
        let refused = await client.execute(.get, "/images/photo.jpg?w=61")
        #expect(refused.response.status == .serviceUnavailable)
        #expect(refused.response.headers["Retry-After"] == "1")
        release.signal()
    }

    @Test func resizesDoNotRunOnTheCooperativePool() async throws {
        // With the only resize thread blocked, the async side still answers originals and 304s.
        let handler = try makeHandler { $0.threads = 1; $0.queueLimit = 4 }
        let client = try makeClient(handler)
        let release = try await ImageConcurrencyTests.block(handler)
        let pending = Task { await client.execute(.get, "/images/photo.jpg?w=77").response.status }
        try await waitUntil("the resize job to be queued") { handler.resizer.inFlightCounts.jobs == 1 }
        #expect(await client.execute(.get, "/images/photo.jpg").response.status == .ok)
        release.signal()
        #expect(await pending.value == .ok)
    }
}

/// `init(options:)` and configuration errors.
@Suite struct ImageOptionsTests {
    @Test func optionsAreRead() throws {
        let options = Options([
            "root": .string(ImageFixtures.root), "prefix": .string("/pics"), "max_source_pixels": .int(1000),
            "max_width": .int(800), "max_height": .int(600), "formats": .array([.string("jpeg"), .string("webp")]),
            "quality": .int(70), "signing_key": .string("a-key-that-is-long-enough-for-256-bits"),
            "cache_control": .string("public, max-age=60"),
            "queue_limit": .int(3), "threads": .int(1), "vips_cache_mb": .int(0),
        ], origin: "handlers[0] (images)")
        let handler = try ImageHandler(options: options)
        let c = handler.configuration
        #expect(c.prefix == "/pics" && c.maxSourcePixels == 1000 && c.maxWidth == 800 && c.maxHeight == 600)
        #expect(c.formats == [.jpeg, .webp] && c.quality == 70 && c.queueLimit == 3 && c.threads == 1)
        #expect(c.signingKeys?.count == 1 && c.cacheControl == "public, max-age=60")
        #expect(handler.signer != nil && !handler.supportsAVIF)
        // A bare signing_key is UTF-8 text, as before.
        let text = ImageURLSigner(keys: try ImageSigningTests.ring("a-key-that-is-long-enough-for-256-bits"))
        #expect(handler.url(path: "/pics/photo.jpg", parameters: ImageParameters(width: 9))
                == text.signedURL(path: "/pics/photo.jpg", parameters: ImageParameters(width: 9)))
    }

    @Test(arguments: [
        ["formats": ConfigValue.array([.string("gif")])],
        ["quality": .int(0)],
        ["threads": .int(0)],
        ["signing_key": .string("short")],
        ["signing_key": .string("sixteen-byte-key")],
        ["keys": .string("hex:00112233445566778899aabbccddeeff")],
        ["keys": .string("%%% not a key")],
        ["max_width": .string("wide")],
        ["root": .string("/nonexistent/porter-images")],
        ["root": .string("")],
        ["prefix": .string("images/")],
    ])
    func badOptionsAreRejected(_ bad: [String: ConfigValue]) {
        var values: [String: ConfigValue] = ["root": .string(ImageFixtures.root)]
        values.merge(bad) { $1 }
        #expect(throws: ConfigurationError.self) { try ImageHandler(options: Options(values)) }
    }

    @Test func prefixIsConfigurable() async throws {
        let handler = try ImageHandler(options: Options(["root": .string(ImageFixtures.root), "prefix": .string("/pics"),
                                                         "allow_unsigned": .bool(true)]))
        var registry = HandlerRegistry()
        try registry.add(name: "images", verbs: "GET", path: "/pics/*", handler: handler)
        let ctx = await PipelineTestClient(registry: registry).execute(.get, "/pics/photo.jpg?w=40")
        #expect(ctx.response.status == .ok)
        #expect(decode(ctx.response.bufferedBody ?? [])?.width == 40)
    }
}
