#if canImport(Glibc)
import Glibc
#endif
import Porter
@testable import PorterImages
import PorterTesting
import Testing

/// HEAD without resizing, presets, and who may order a resize (issue 10, items 1 and 2), in the pipeline tier.
@Suite struct ImageHeadTests {
    @Test func headAnswersTheGetsHeadersWithoutResizing() async throws {
        let handler = try makeHandler()
        let client = try makeClient(handler)
        for uri in ["/images/photo.jpg?w=120", "/images/photo.jpg?w=120&fmt=webp", "/images/alpha.png?h=40&fit=contain"] {
            let before = handler.statistics.resizes
            let head = await client.execute(.head, uri, headers: ["Accept": "image/webp"])
            #expect(head.response.status == .ok, "\(uri)")
            #expect(handler.statistics.resizes == before, "HEAD \(uri) must not resize")
            #expect(head.response.headers["Content-Length"] == nil, "unknown without resizing")
            guard case .stream = head.response.body else { Issue.record("HEAD body must be an empty stream (no Content-Length)"); continue }
            let get = await client.execute(.get, uri, headers: ["Accept": "image/webp"])
            for name in ["Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary", "X-Content-Type-Options"] {
                #expect(head.response.headers[name] == get.response.headers[name], "\(uri): \(name)")
            }
        }
        #expect(handler.statistics.resizes == 3, "only the GETs resized")
    }

    @Test func headOfAnOriginalHasItsLengthAndReadsNothing() async throws {
        let handler = try makeHandler()
        let head = try await makeClient(handler).execute(.head, "/images/photo.jpg")
        #expect(head.response.status == .ok && head.response.headers["Content-Type"] == "image/jpeg")
        let size = try #require(try? FileManagerSize.of(ImageFixtures.root + "/photo.jpg"))
        #expect(head.response.headers["Content-Length"] == String(size))
    }

    @Test func headRefusesABombFromItsHeaderAsAGetWould() async throws {
        let handler = try makeHandler()
        let head = try await makeClient(handler).execute(.head, "/images/bomb.png?w=10")
        #expect(head.response.status == .unprocessableContent)
        #expect(handler.statistics.resizes == 0 && handler.statistics.bombsRefused == 1)
        let notImage = try await makeClient(handler).execute(.head, "/images/svg.png?w=10")
        #expect(notImage.response.status == .unsupportedMediaType)
    }

    @Test func conditionalHeadIs304() async throws {
        let handler = try makeHandler()
        let client = try makeClient(handler)
        let etag = try #require(await client.execute(.head, "/images/photo.jpg?w=64").response.headers["ETag"])
        #expect(await client.execute(.head, "/images/photo.jpg?w=64", headers: ["If-None-Match": etag]).response.status == .notModified)
        #expect(handler.statistics.resizes == 0)
    }
}

/// Presets, `allow_unsigned`, and the startup refusal.
@Suite struct ImagePresetTests {
    static let presets: ConfigValue = .table([
        "thumb": .table(["w": .int(100), "h": .int(100), "fit": .string("cover")]),
        "wide": .table(["w": .int(300), "fmt": .string("webp"), "dpr": .double(1.5)]),
    ])

    @Test func presetsAreServedWithoutASignatureAndNothingElseIs() async throws {
        let handler = try ImageHandler(options: Options(["root": .string(ImageFixtures.root), "presets": Self.presets]))
        let client = try makeClient(handler)
        let thumb = await client.execute(.get, "/images/photo.jpg?p=thumb")
        #expect(thumb.response.status == .ok)
        let image = try #require(decode(try await body(of: thumb.response)))
        #expect(image.width == 100 && image.height == 100)
        #expect(thumb.response.headers["Cache-Control"] == "public, max-age=3600")
        let wide = await client.execute(.get, "/images/photo.jpg?p=wide")
        #expect(wide.response.headers["Content-Type"] == "image/webp")
        #expect(decode(try await body(of: wide.response))?.width == 450)
        let refused: [(String, HTTPStatus)] = [
            ("/images/photo.jpg?w=100", .forbidden), ("/images/photo.jpg?w=100&h=100&fit=cover", .forbidden),
            ("/images/photo.jpg?fmt=png", .forbidden), ("/images/photo.jpg?p=nope", .badRequest),
            ("/images/photo.jpg?p=thumb&w=5", .badRequest), ("/images/photo.jpg?p=thumb&sig=AAAA", .badRequest),
            ("/images/photo.jpg?p=../x", .badRequest), ("/images/photo.jpg?p=thumb&p=wide", .badRequest),
        ]
        for (uri, status) in refused {
            #expect(await client.execute(.get, uri).response.status == status, "\(uri)")
        }
        #expect(handler.statistics.resizes == 2)
        // Other spellings of a preset request are redirected to `?p=NAME` (nginx caches the raw URI: each spelling was a
        // MISS and a resize) and cost no resize; HEAD likewise.
        for spelling in ["/images/photo.jpg?p=thumb&", "/images/photo.jpg?&p=thumb", "/images/photo.jpg?p=th%75mb", "/images/%70hoto.jpg?p=thumb",
                         "/images/photo.jpg?p=%74humb&&"] {
            for method in [HTTPMethod.get, .head] {
                let redirected = await client.execute(method, spelling)
                #expect(redirected.response.status == .movedPermanently, "\(method) \(spelling)")
                #expect(redirected.response.headers["Location"] == "/images/photo.jpg?p=thumb", "\(spelling)")
            }
        }
        #expect(handler.statistics.resizes == 2)
        // The original needs nothing.
        #expect(await client.execute(.get, "/images/photo.jpg").response.status == .ok)
    }

    @Test func presetsWorkNextToASigningKey() async throws {
        let key = "preset-and-key-0123456789abcdef-0123"
        let handler = try ImageHandler(options: Options(["root": .string(ImageFixtures.root), "presets": Self.presets,
                                                         "signing_key": .string(key)]))
        let client = try makeClient(handler)
        #expect(await client.execute(.get, "/images/photo.jpg?p=thumb").response.status == .ok)
        #expect(await client.execute(.get, "/images/photo.jpg?w=77").response.status == .forbidden)
        let signed = ImageURLSigner(keys: try KeyRing(secrets: ["text:" + key])).signedURL(path: "/images/photo.jpg", parameters: ImageParameters(width: 77))
        #expect(await client.execute(.get, signed).response.status == .ok)
    }

    @Test(arguments: [
        (["root": ConfigValue.string(ImageFixtures.root)], "allow_unsigned"),
        (["root": .string(ImageFixtures.root), "signing_key": .string("a-key-that-is-long-enough-for-the-key-ring"), "allow_unsigned": .bool(true)], "pointless"),
        (["root": .string(ImageFixtures.root), "presets": .table(["x": .table(["w": .int(0)])])], "presets.x"),
        (["root": .string(ImageFixtures.root), "presets": .table(["x": .table(["w": .int(5000)])])], "presets.x"),
        (["root": .string(ImageFixtures.root), "presets": .table(["x": .table(["width": .int(50)])])], "presets.x"),
        (["root": .string(ImageFixtures.root), "presets": .table(["b a d": .table(["w": .int(50)])])], "preset names"),
        (["root": .string(ImageFixtures.root), "presets": .table(["x": .int(5)])], "presets.x"),
    ])
    func unsafeOrBadSettingsRefuseToStart(_ values: [String: ConfigValue], _ message: String) {
        #expect { try ImageHandler(options: Options(values, origin: "handlers[0] (image)")) } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("handlers[0] (image)")
        }
    }

    @Test func allowUnsignedAcceptsAnySize() async throws {
        let handler = try ImageHandler(options: Options(["root": .string(ImageFixtures.root), "allow_unsigned": .bool(true)]))
        #expect(try await makeClient(handler).execute(.get, "/images/photo.jpg?w=33").response.status == .ok)
    }

    @Test func imageURLCommandPrintsURLsTheHandlerAccepts() async throws {
        let key = "command-key-0123456789abcdef-0123456"
        var configuration = ImageServerConfiguration(root: ImageFixtures.root)
        configuration.signingKeys = try KeyRing(secrets: ["text:" + key])
        configuration.presets = ["thumb": ImageParameters(width: 100, height: 100, fit: .cover)]
        let handler = try ImageHandler(configuration)
        let client = try makeClient(handler)
        let url = try ImageURLCommand.url(path: "/images/photo.jpg", images: configuration, preset: nil, given: [("w", "90"), ("fmt", "png")])
        #expect(url.hasPrefix("/images/photo.jpg?fmt=png&w=90&sig="))
        #expect(await client.execute(.get, url).response.status == .ok)
        #expect(try ImageURLCommand.url(path: "/images/photo.jpg", images: configuration, preset: "thumb", given: []) == "/images/photo.jpg?p=thumb")
        #expect(throws: (any Error).self) { try ImageURLCommand.url(path: "/images/photo.jpg", images: configuration, preset: "nope", given: []) }
        #expect(throws: (any Error).self) { try ImageURLCommand.url(path: "/images/photo.jpg", images: configuration, preset: nil, given: [("w", "0")]) }
        var presetsOnly = configuration
        presetsOnly.signingKeys = nil
        #expect(throws: (any Error).self) { try ImageURLCommand.url(path: "/images/photo.jpg", images: presetsOnly, preset: nil, given: [("w", "90")]) }
    }
}

/// File sizes without Foundation's FileManager attribute dictionaries.
enum FileManagerSize {
    static func of(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw HTTPError(.notFound) }
        return Int(st.st_size)
    }
}
