import Foundation
import Porter
import Testing
@testable import PorterState

let keyA = Array(repeating: UInt8(0xA1), count: 32)
let keyB = Array(repeating: UInt8(0xB2), count: 32)
/// The parameter nginx's identity snippet sets (the request went through a location that really authenticates),
/// and the option that names the snippet: short names for the argument tables.
let M = NginxIdentity.markerParameter, S = "identity_snippet"

/// A pipeline with authentication, roles, and a handler that prints the user.
func authPipeline(_ module: AuthenticationModule) throws -> Pipeline {
    var registry = HandlerRegistry()
    try registry.add(name: "whoami", path: "/whoami", handler: ClosureHandler { ctx in
        let u = ctx.user
        ctx.response.write(u.isAuthenticated ? "\(u.name)|\(u.authenticationType ?? "")|\(u.roles.sorted().joined(separator: ","))" : "anonymous")
    })
    return Pipeline(registry: registry, modules: [module])
}

@Suite("Authentication")
struct AuthenticationTests {
    @Test func ticketRoundTripsAndDetectsTampering() throws {
        let clock = ManualClock()
        let auth = try CookieAuthentication(keys: [keyA], clock: clock.wallClock)
        let value = auth.issueCookie(for: "alice|admin").value
        guard case .valid(let ticket, let index) = auth.validate(value) else { Issue.record("valid ticket refused"); return }
        #expect(ticket.user == "alice|admin" && index == 0)
        #expect(ticket.expires - ticket.issued == 30 * 60)

        var parts = value.split(separator: ".").map(String.init)
        let forgedUser = parts
        parts[0] = Base64URL.encode(Array("root".utf8))
        #expect(auth.validate(parts.joined(separator: ".")) == .invalid, "another user name breaks the signature")
        var longer = forgedUser
        longer[1] = String(Int64(longer[1])! + 86_400)
        #expect(auth.validate(longer.joined(separator: ".")) == .invalid, "a later expiry breaks the signature")
        var flipped = forgedUser
        flipped[4] = String(flipped[4].reversed())
        #expect(auth.validate(flipped.joined(separator: ".")) == .invalid)
        var otherGeneration = forgedUser
        otherGeneration[3] = "7"
        #expect(auth.validate(otherGeneration.joined(separator: ".")) == .invalid, "the generation is signed too")
        for garbage in ["", "a.b.c", "....", value + ".x", String(repeating: "A", count: 5000)] {
            #expect(auth.validate(garbage) == .invalid)
        }
        let other = try CookieAuthentication(keys: [keyB], clock: clock.wallClock)
        #expect(other.validate(value) == .invalid, "a cookie signed with an unknown key is refused")
    }

    @Test func expiryAndSlidingRenewal() throws {
        let clock = ManualClock()
        let auth = try CookieAuthentication(keys: [keyA], lifetime: .seconds(600), clock: clock.wallClock)
        let value = auth.issueCookie(for: "bob").value
        clock.advance(by: .seconds(200))
        guard case .valid(let t1, let i1) = auth.validate(value) else { Issue.record(); return }
        #expect(!auth.shouldRenew(t1, keyIndex: i1))
        clock.advance(by: .seconds(200))
        guard case .valid(let t2, let i2) = auth.validate(value) else { Issue.record(); return }
        #expect(auth.shouldRenew(t2, keyIndex: i2), "past half of its lifetime the ticket is renewed")
        clock.advance(by: .seconds(201))
        guard case .expired(let t3) = auth.validate(value) else { Issue.record("expired ticket accepted"); return }
        #expect(t3.user == "bob")
    }

    @Test func keyRotationSignsWithFirstAndAcceptsAll() throws {
        let clock = ManualClock()
        let old = try CookieAuthentication(keys: [keyA], clock: clock.wallClock)
        let rotated = try CookieAuthentication(keys: [keyB, keyA], clock: clock.wallClock)
        let oldCookie = old.issueCookie(for: "carol").value
        guard case .valid(let ticket, let index) = rotated.validate(oldCookie) else { Issue.record("old key refused"); return }
        #expect(index == 1)
        #expect(rotated.shouldRenew(ticket, keyIndex: index), "cookies signed with an old key are re-signed")
        let newCookie = rotated.issueCookie(for: "carol").value
        #expect(old.validate(newCookie) == .invalid, "new cookies are signed with the first key")
        let retired = try CookieAuthentication(keys: [keyB], clock: clock.wallClock)
        #expect(retired.validate(oldCookie) == .invalid, "a retired key's cookies are refused")
    }

    @Test func keysFromOptionsAreCheckedForLength() throws {
        let hex = Hex.encode(keyA)
        let b64 = Data(keyB).base64EncodedString()
        let auth = try #require(try CookieAuthentication.fromOptions(Options(["keys": .array([.string("hex:" + hex), .string(b64)])])))
        #expect(auth.keys == [keyA, keyB])
        #expect(auth.secure && auth.httpOnly && auth.sameSite == .lax, "Secure, HttpOnly, SameSite=Lax by default")
        #expect(try CookieAuthentication.fromOptions(Options()) == nil)
        #expect(throws: ConfigurationError.self) { try CookieAuthentication.fromOptions(Options(["keys": .string("hex:abcd")])) }
        #expect(throws: ConfigurationError.self) { try CookieAuthentication.fromOptions(Options(["keys": .string("%%%")])) }
        let relaxed = try #require(try CookieAuthentication.fromOptions(Options([
            "keys": .string(hex), "secure": .bool(false), "same_site": .string("Strict"), "cookie_name": .string("auth"),
        ])))
        let cookie = relaxed.issueCookie(for: "x")
        #expect(cookie.name == "auth" && !cookie.secure && cookie.sameSite == .strict)
        #expect(cookie.headerValue.contains("HttpOnly"))
    }

    /// A request that changes something, sent by a browser from another site, is not signed in by the (ambient) login
    /// cookie; safe requests (a link from elsewhere) and clients that send no origin information are.
    @Test(arguments: [
        ("POST", ["Sec-Fetch-Site": "cross-site"], "anonymous"), ("POST", ["Sec-Fetch-Site": "same-site"], "anonymous"),
        ("DELETE", ["Origin": "https://evil.example"], "anonymous"), ("PUT", ["Origin": "null"], "anonymous"),
        ("POST", ["Origin": "http://sibling.site.test", "Sec-Fetch-Site": "same-site"], "anonymous"),
        ("POST", ["Origin": "http://site.test:8080", "Sec-Fetch-Site": "same-origin"], "erin|cookie|"),
        ("POST", ["Origin": "https://partner.example"], "erin|cookie|"),  // allowed_origins
        ("POST", [:], "erin|cookie|"), ("POST", ["Sec-Fetch-Site": "none"], "erin|cookie|"),
        ("GET", ["Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"], "erin|cookie|"),
        ("HEAD", ["Sec-Fetch-Site": "cross-site"], "erin|cookie|"), ("OPTIONS", ["Sec-Fetch-Site": "cross-site"], "erin|cookie|"),
    ] as [(String, [String: String], String)])
    func crossSiteUnsafeRequestsAreNotSignedIn(_ method: String, _ headers: [String: String], _ expected: String) async throws {
        let auth = try CookieAuthentication(keys: [keyA])
        let module = AuthenticationModule(cookie: auth, csrf: CSRFProtection(authentication: auth, allowedOrigins: ["https://partner.example"]))
        var registry = HandlerRegistry()
        try registry.add(name: "whoami", verbs: "*", path: "/whoami", handler: ClosureHandler { ctx in
            let u = ctx.user
            ctx.response.write(u.isAuthenticated ? "\(u.name)|\(u.authenticationType ?? "")|" : "anonymous")
        })
        let pipeline = Pipeline(registry: registry, modules: [module])
        var all: HTTPHeaders = ["Cookie": "porter_auth=\(auth.issueCookie(for: "erin").value)", "Host": "site.test:8080"]
        for (name, value) in headers { all[name] = value }
        let ctx = makeContext(HTTPMethod(rawValue: method), "/whoami", headers: all)
        await pipeline.run(ctx)
        #expect(bodyText(ctx) == expected, "\(method) \(headers)")
    }

    @Test func cookieLoginAndRejectedCookiesAreCleared() async throws {
        let clock = ManualClock()
        let auth = try CookieAuthentication(keys: [keyA], clock: clock.wallClock)
        let pipeline = try authPipeline(AuthenticationModule(cookie: auth))
        let good = auth.issueCookie(for: "dave").value
        let ok = makeContext(.get, "/whoami", headers: ["Cookie": "porter_auth=\(good)"])
        await pipeline.run(ok)
        #expect(bodyText(ok) == "dave|cookie|")
        #expect(ok.response.cookies.isEmpty)

        // Tamper with the signature's first character (six full bits of the MAC) so the value surely differs.
        // (Replacing the last two characters with "xx" left the cookie valid about once in 1024 runs: the
        // clock, and so the MAC, differs per run, and base64's last character carries two unused bits.)
        var parts = good.split(separator: ".").map(String.init)
        let signature = try #require(parts.last)
        parts[parts.count - 1] = (signature.first == "A" ? "B" : "A") + signature.dropFirst()
        let tamperedValue = parts.joined(separator: ".")
        #expect(tamperedValue != good)
        let tampered = makeContext(.get, "/whoami", headers: ["Cookie": "porter_auth=\(tamperedValue)"])
        await pipeline.run(tampered)
        #expect(bodyText(tampered) == "anonymous")
        #expect(setCookie(tampered, "porter_auth")?.maxAge == 0, "a tampered cookie is cleared")

        clock.advance(by: .seconds(31 * 60))
        let expired = makeContext(.get, "/whoami", headers: ["Cookie": "porter_auth=\(good)"])
        await pipeline.run(expired)
        #expect(bodyText(expired) == "anonymous")
        #expect(setCookie(expired, "porter_auth")?.maxAge == 0, "an expired cookie is cleared")
    }

    /// (parameters, headers, module options) → who the user is. `M` is the identity snippet's marker parameter,
    /// `S` the option naming the snippet.
    @Test(arguments: [
        (["REMOTE_USER": "erin"], [:], [:], "anonymous"),
        (["REMOTE_USER": "erin", M: "x"], [:], [:], "anonymous"),
        (["REMOTE_USER": "erin", M: "x"], [:], ["trust_remote_user": ConfigValue.bool(true), S: .string("s.conf")], "erin|nginx|"),
        (["REMOTE_USER": "erin"], [:], ["trust_remote_user": .bool(true), S: .string("s.conf")], "anonymous"),
        (["REMOTE_USER": "  ", M: "x"], [:], ["trust_remote_user": .bool(true), S: .string("s.conf")], "anonymous"),
        (["REMOTE_USER": "a\u{1}b", M: "x"], [:], ["trust_remote_user": .bool(true), S: .string("s.conf")], "anonymous"),
        (["AUTH_USER": "frank", M: "x"], [:], [:], "anonymous"),
        (["AUTH_USER": "frank", M: "x"], [:], ["trusted_param": .string("AUTH_USER"), S: .string("s.conf")], "frank|nginx|"),
        (["AUTH_USER": "frank"], [:], ["trusted_param": .string("AUTH_USER"), S: .string("s.conf")], "anonymous"),
        ([M: "x"], ["X-Remote-User": "gina"], [:], "anonymous"),
        ([M: "x"], ["X-Remote-User": "gina"], ["trusted_header": .string("X-Remote-User"), S: .string("s.conf")], "gina|header|"),
        ([:], ["X-Remote-User": "gina"], ["trusted_header": .string("X-Remote-User"), S: .string("s.conf")], "anonymous"),
    ] as [([String: String], [String: String], [String: ConfigValue], String)])
    func nginxIdentityIsHonouredOnlyWhenConfigured(params: [String: String], headers: [String: String],
                                                   options: [String: ConfigValue], expected: String) async throws {
        let pipeline = try authPipeline(try AuthenticationModule(options: Options(options)))
        var h = HTTPHeaders()
        for (k, v) in headers { h.add(k, v) }
        let ctx = makeContext(.get, "/whoami", headers: h, parameters: params)
        await pipeline.run(ctx)
        #expect(bodyText(ctx) == expected)
    }

    @Test func trustedParamMayNotBeAClientHeader() {
        #expect(throws: ConfigurationError.self) {
            try AuthenticationModule(options: Options(["trusted_param": .string("HTTP_X_USER"), S: .string("s.conf")]))
        }
    }

    @Test(arguments: ["trust_remote_user", "trusted_param", "trusted_header"])
    func trustingNginxIdentityWithoutTheSnippetIsAStartupError(option: String) {
        let value: ConfigValue = option == "trust_remote_user" ? .bool(true) : .string("X-User")
        do {
            _ = try AuthenticationModule(options: Options([option: value]))
            Issue.record("\(option) without identity_snippet was accepted")
        } catch let error as ConfigurationError {
            #expect(error.message.contains(option) && error.message.contains("identity_snippet"), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: ConfigurationError.self, "a snippet with nothing to vouch for is a mistake too") {
            try AuthenticationModule(options: Options([S: .string("s.conf")]))
        }
    }

    @Test func aReadableSnippetMustSetWhatIsTrusted() throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("id.conf").path
        try "auth_basic \"x\";\nfastcgi_param REMOTE_USER $remote_user;\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self, "the marker parameter is missing") {
            try AuthenticationModule(options: Options(["trust_remote_user": .bool(true), "identity_snippet": .string(file)]))
        }
        try "fastcgi_param REMOTE_USER $remote_user;\nfastcgi_param PORTER_IDENTITY_SNIPPET x;\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try AuthenticationModule(options: Options(["trust_remote_user": .bool(true), "identity_snippet": .string(file)]))
        #expect(throws: ConfigurationError.self, "the trusted header is not overwritten") {
            try AuthenticationModule(options: Options(["trusted_header": .string("X-User"), "identity_snippet": .string(file)]))
        }
    }

    @Test func theSnippetCoversTheConfiguredPrefixes() throws {
        let all = NginxIdentity(snippet: "s.conf")
        let admin = NginxIdentity(snippet: "s.conf", pathPrefixes: ["/admin/"])
        let patterns = try ["/hello", "*.rss", "/admin/*", "*", "/images/*.jpg", "/admin/x"].map { try PathPattern($0) }
        #expect(patterns.allSatisfy(all.covers))
        #expect(patterns.filter(admin.covers).map(\.text) == ["/admin/*", "/admin/x"])
    }

    @Test func revokedTicketsAreRefusedAndCleared() async throws {
        let dir = try temporaryDirectory()
        let store = try SQLiteUserStore(path: dir.appendingPathComponent("u.sqlite").path,
                                        hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
        try store.setPassword("pw", for: "hal")
        let auth = try CookieAuthentication(keys: [keyA])
        let pipeline = try authPipeline(AuthenticationModule(cookie: auth, users: store))
        func whoami(_ value: String) async -> HTTPContext {
            let ctx = makeContext(.get, "/whoami", headers: ["Cookie": "porter_auth=\(value)"])
            await pipeline.run(ctx)
            return ctx
        }
        let first = try #require(try store.generation(of: "hal"))
        let ticket = auth.issueCookie(for: "hal", generation: first).value
        #expect(bodyText(await whoami(ticket)) == "hal|cookie|")
        #expect(bodyText(await whoami(auth.issueCookie(for: "hal", generation: first + 1).value)) == "anonymous")
        try store.bumpGeneration(of: "hal")
        let revoked = await whoami(ticket)
        #expect(bodyText(revoked) == "anonymous" && setCookie(revoked, "porter_auth")?.maxAge == 0)
        try store.setPassword("new", for: "hal")
        let second = try #require(try store.generation(of: "hal"))
        #expect(second == first + 2, "a password change bumps the generation")
        let current = auth.issueCookie(for: "hal", generation: second).value
        #expect(bodyText(await whoami(current)) == "hal|cookie|")
        try store.deleteUser("hal")
        #expect(bodyText(await whoami(current)) == "anonymous", "a deleted user's tickets are refused")
        try store.setPassword("pw", for: "hal")
        #expect(bodyText(await whoami(current)) == "anonymous", "re-creating the user does not revive old tickets")
    }

    @Test func rolesComeFromTheUsersDatabaseAndTheRolesFile() async throws {
        let dir = try temporaryDirectory()
        let dbPath = dir.appendingPathComponent("users.sqlite").path
        let store = try SQLiteUserStore(path: dbPath, hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
        try store.setPassword("pw", for: "erin")
        try store.addRole("admin", to: "erin")
        try store.addRole("editor", to: "erin")
        try store.removeRole("editor", from: "erin")
        let rolesPath = dir.appendingPathComponent("roles").path
        try "# roles\nops: erin, zed\nreaders: zed\n".write(toFile: rolesPath, atomically: true, encoding: .utf8)
        let module = try AuthenticationModule(options: Options([
            "trust_remote_user": .bool(true), "users_database": .string(dbPath), "roles_file": .string(rolesPath),
            "kdf_iterations": .int(210_000), S: .string("s.conf"),
        ]))
        let pipeline = try authPipeline(module)
        let ctx = makeContext(.get, "/whoami", parameters: ["REMOTE_USER": "erin", M: "x"])
        await pipeline.run(ctx)
        #expect(bodyText(ctx) == "erin|nginx|admin,ops")
        let zed = makeContext(.get, "/whoami", parameters: ["REMOTE_USER": "zed", M: "x"])
        await pipeline.run(zed)
        #expect(bodyText(zed) == "zed|nginx|ops,readers")
        #expect(throws: ConfigurationError.self) { try RolesFile(text: "no colon here") }
    }
}

@Suite("Password hashing")
struct PasswordHashingTests {
    @Test func pbkdf2HashNeverContainsThePasswordAndVerifies() throws {
        let hasher = try PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000))
        let password = "correct horse battery staple"
        let hash = try hasher.hash(password)
        #expect(hash.hasPrefix("$pbkdf2-sha256$i=210000$"))
        #expect(!hash.contains(password))
        #expect(!hash.contains(Data(password.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")))
        #expect(!hash.contains(Hex.encode(Array(password.utf8))))
        #expect(PasswordHasher.verify(password, against: hash))
        #expect(!PasswordHasher.verify(password + " ", against: hash))
        #expect(!PasswordHasher.verify("", against: hash))
        #expect(try hasher.hash(password) != hash, "a random salt makes every hash different")
    }

    @Test func scryptIsSupported() throws {
        let hasher = try PasswordHasher(algorithm: .scrypt(logN: 14, r: 8, p: 1))
        let hash = try hasher.hash("s3cret")
        #expect(hash.hasPrefix("$scrypt$ln=14,r=8,p=1$"))
        #expect(PasswordHasher.verify("s3cret", against: hash))
        #expect(!PasswordHasher.verify("s3creT", against: hash))
        #expect(hasher.needsRehash(hash) == false)
        #expect(try PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)).needsRehash(hash))
    }

    /// Hashes made by another implementation (Python's hashlib: PBKDF2-HMAC-SHA256 and scrypt as RFC 8018 and 7914
    /// define them) verify: the users table survives a change of crypto library, and migrates from other stacks.
    @Test(arguments: [
        "$pbkdf2-sha256$i=210000$AAECAwQFBgcICQoLDA0ODw$gxlf+Rr9C5tHYNeBy6tVTQi7bKgI2CUjXCDI6UrbXGg",
        "$scrypt$ln=14,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$JbN2hANm9NOw4h5BRHZnbjzQ6Jr0QwNWojTOC2WgIbU",
    ])
    func hashesFromAnotherImplementationVerify(hash: String) {
        #expect(PasswordHasher.verify("correct horse", against: hash))
        #expect(!PasswordHasher.verify("correct horse ", against: hash))
    }

    @Test func weakParametersAndMalformedHashesAreRefused() {
        #expect(throws: PasswordHashError.self) { try PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 1000)) }
        for bad in ["", "plain", "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                    "$md5$x$y$z", "$pbkdf2-sha256$i=210000$!!$??"] {
            #expect(!PasswordHasher.verify("plain", against: bad))
        }
    }

    @Test func userStoreKeepsOnlyHashes() throws {
        let path = try temporaryDirectory().appendingPathComponent("u.sqlite").path
        let store = try SQLiteUserStore(path: path, hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
        try store.setPassword("hunter2", for: "ian")
        let stored = try #require(try store.passwordHash(of: "ian"))
        #expect(!stored.contains("hunter2"))
        #expect(try store.verify(user: "ian", password: "hunter2"))
        #expect(try !store.verify(user: "ian", password: "hunter3"))
        #expect(try !store.verify(user: "nobody", password: "hunter2"))
        for file in [path, path + "-wal"] {
            let raw = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(raw.range(of: Data("hunter2".utf8)) == nil, "the password is not in \(file)")
        }
    }
}

/// The Origin comparison behind nginx: scheme (REQUEST_SCHEME / HTTPS), host and port (the Host header as sent,
/// PORTER_HOST_HEADER) must all be this site's (attack pass 31: another port or scheme on the same name passed).
@Suite struct OriginCheckTests {
    @Test(arguments: [
        // (Origin, REQUEST_SCHEME, PORTER_HOST_HEADER, foreign?)
        ("http://127.0.0.1:8080", "http", "127.0.0.1:8080", false),
        ("HTTP://127.0.0.1:8080", "http", "127.0.0.1:8080", false),
        ("http://127.0.0.1:9999", "http", "127.0.0.1:8080", true),
        ("https://127.0.0.1:8080", "http", "127.0.0.1:8080", true),
        ("https://127.0.0.1", "http", "127.0.0.1:8080", true),
        ("http://127.0.0.1", "http", "127.0.0.1", false),
        ("http://127.0.0.1:80", "http", "127.0.0.1", false),
        ("https://site.test", "https", "site.test", false),
        ("https://site.test:443", "https", "site.test:443", false),
        ("http://site.test", "https", "site.test", true),
        ("https://site.test:8443", "https", "site.test", true),
        ("http://[::1]:8080", "http", "[::1]:8080", false),
        ("http://[::1]:8081", "http", "[::1]:8080", true),
        ("http://evil.example:8080", "http", "127.0.0.1:8080", true),
        ("http://127.0.0.1:+8080", "http", "127.0.0.1:8080", true),
        ("http://127.0.0.1:0", "http", "127.0.0.1:8080", true),
        ("http://127.0.0.1:8080/", "http", "127.0.0.1:8080", true),
        ("ftp://127.0.0.1:8080", "http", "127.0.0.1:8080", true),
    ] as [(String, String, String, Bool)])
    func behindNginx(_ origin: String, _ scheme: String, _ sent: String, _ foreign: Bool) {
        // nginx's HTTP_HOST is $host: no port.
        let host = HTTPRequest.splitAuthority(sent)?.host ?? sent
        let request = HTTPRequest(method: .post, uri: "/report", headers: ["Host": host, "Origin": origin],
                                  parameters: CGIParameters(["REQUEST_SCHEME": scheme, "PORTER_HOST_HEADER": sent]))
        #expect((CSRFProtection.foreignOrigin(request, allowedOrigins: []) != nil) == foreign, "\(origin) on \(scheme)://\(sent)")
    }

    @Test("without PORTER_HOST_HEADER (an older site file) a Host without a port compares the host alone; HTTPS=on is https")
    func olderSiteFile() {
        func foreign(_ origin: String, host: String, _ parameters: [String: String] = [:]) -> Bool {
            let request = HTTPRequest(method: .post, uri: "/", headers: ["Host": host, "Origin": origin], parameters: CGIParameters(parameters))
            return CSRFProtection.foreignOrigin(request, allowedOrigins: []) != nil
        }
        #expect(!foreign("http://site.test:8080", host: "site.test"))
        #expect(!foreign("http://site.test:8080", host: "site.test:8080"))
        #expect(foreign("http://site.test:9090", host: "site.test:8080"))
        #expect(foreign("http://site.test", host: "site.test", ["HTTPS": "on"]))
        #expect(!foreign("https://site.test", host: "site.test", ["HTTPS": "on"]))
    }
}
