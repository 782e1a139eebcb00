import Logging
import Porter
import Testing

/// The one access model: rules (users, roles, `*`, `?`, verbs, local-only), policies, loopback detection.
@Suite struct AccessPolicyTests {
    static let alice = Principal(name: "alice", authenticationType: "test", roles: ["admin"])
    static let bob = Principal(name: "bob", authenticationType: "test")

    /// (rule, user, method, isLocal) → matches.
    @Test(arguments: [
        (AccessRule(.allow, users: ["*"]), Principal.anonymous, "GET", false, true),
        (AccessRule(.allow, users: ["?"]), .anonymous, "GET", false, true),
        (AccessRule(.allow, users: ["?"]), bob, "GET", false, false),
        (AccessRule(.allow, users: ["BOB"]), bob, "GET", false, true),
        (AccessRule(.allow, users: ["bob"]), alice, "GET", false, false),
        (AccessRule(.allow, roles: ["admin"]), alice, "GET", false, true),
        (AccessRule(.allow, roles: ["admin"]), bob, "GET", false, false),
        (AccessRule(.deny, users: ["*"], verbs: ["post"]), bob, "GET", false, false),
        (AccessRule(.deny, users: ["*"], verbs: ["post"]), bob, "POST", false, true),
        (AccessRule(.allow, users: ["*"], localOnly: true), .anonymous, "GET", false, false),
        (AccessRule(.allow, users: ["*"], localOnly: true), .anonymous, "GET", true, true),
    ] as [(AccessRule, Principal, String, Bool, Bool)])
    func ruleMatching(rule: AccessRule, user: Principal, method: String, isLocal: Bool, matches: Bool) {
        #expect(rule.matches(user, method: method, isLocal: isLocal) == matches)
    }

    @Test func firstMatchingRuleDecidesAndNoMatchAllows() {
        let policy = AccessPolicy([AccessRule(.allow, roles: ["admin"]), AccessRule(.deny, users: ["*"])])
        #expect(policy.decision(for: Self.alice, method: "GET", isLocal: false) == .allow)
        #expect(policy.decision(for: Self.bob, method: "GET", isLocal: false) == .deny)
        #expect(AccessPolicy.everyone.decision(for: .anonymous, method: "GET", isLocal: false) == nil)
    }

    /// The ops pages' options: `local_only`, `allow_users`, `allow_roles`.
    @Test(arguments: [
        ("127.0.0.1", Principal.anonymous, 200), ("::1", .anonymous, 200), ("203.0.113.9", .anonymous, 403),
        ("", .anonymous, 403), ("203.0.113.9", bob, 403), ("203.0.113.9", alice, 200),
        ("203.0.113.9", Principal(name: "Carol", authenticationType: "test"), 200),
    ] as [(String, Principal, Int)])
    func pageOptions(remote: String, user: Principal, status: Int) throws {
        let policy = try AccessPolicy(options: Options(["allow_users": .string("carol"), "allow_roles": .array([.string("admin")])]),
                                      localOnlyDefault: true)
        #expect(policy == .localOnly(allowUsers: ["carol"], allowRoles: ["admin"]))
        var request = HTTPRequest(uri: "/trace.axd")
        request.remoteAddress = remote
        let context = HTTPContext(request: request, application: ApplicationState(), logger: Logger(label: "test"))
        context.user = user
        #expect(policy.allows(context) == (status == 200))
        if status == 200 {
            #expect(throws: Never.self) { try policy.check(context) }
        } else {
            #expect(throws: HTTPError(.forbidden)) { try policy.check(context) }
        }
        #expect(try AccessPolicy(options: Options(["local_only": .bool(false), "allow_users": .string("x")]),
                                 localOnlyDefault: true) == .everyone)
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("::1", true), ("[::1]", true), ("0:0:0:0:0:0:0:1", true),
        ("::ffff:127.0.0.1", true), ("::FFFF:127.1.2.3", true),
        ("", false), ("128.0.0.1", false), ("10.0.0.1", false), ("127.0.0", false), ("127.0.0.256", false),
        ("127.0.0.1.5", false), ("::2", false), ("localhost", false),
        // One parser (IPAddress) for every spelling: ::1 written otherwise is loopback; padded or short IPv4 is not an address.
        ("::0:1", true), ("0000::1", true), ("[0:0::1]", true), ("127.000.000.001", false), ("127.1", false), ("[127.0.0.1]", false),
    ])
    func loopbackAddresses(address: String, isLoopback: Bool) {
        #expect(HTTPRequest.isLoopback(address) == isLoopback)
    }

    @Test(arguments: [
        ["action": ConfigValue.string("permit"), "users": .string("*")],
        ["action": .string("allow")],
        ["local_only": .bool(true)],
        ["allow_users": .array([.int(1), .array([])])],
    ] as [[String: ConfigValue]])
    func badRuleTablesAreExplained(values: [String: ConfigValue]) {
        #expect(throws: ConfigurationError.self) { try AccessRule.rules(from: Options(values)) }
    }

    @Test func ruleTablesExpandAllowThenDeny() throws {
        let rules = try AccessRule.rules(from: Options([
            "deny_users": .string("?"), "allow_roles": .string("ops"), "verbs": .array([.string("get")]), "local_only": .bool(true),
        ]))
        #expect(rules == [
            AccessRule(.allow, roles: ["ops"], verbs: ["GET"], localOnly: true),
            AccessRule(.deny, users: ["?"], verbs: ["GET"], localOnly: true),
        ])
    }

    @Test("a loopback Host: localhost or a loopback address, any port; anything else is another site's name", arguments: [
        (nil, true), ("", true), ("localhost", true), ("LocalHost:8080", true), ("localhost.", true), ("127.0.0.1", true),
        ("127.9.8.7:80", true), ("[::1]", true), ("[::1]:8080", true),
        ("rebind.attacker.example", false), ("127.0.0.1.attacker.example", false), ("localhost.attacker.example", false),
        ("10.0.0.1", false), ("[::2]:80", false), ("[::1", false), ("example.com:127", false),
        // Malformed ports are not a loopback Host (the Origin check's parser, HTTPRequest.splitAuthority).
        ("127.0.0.1:abc", false), ("localhost:0", false), ("[::1]x", false), ("[::1]:", false),
    ] as [(String?, Bool)])
    func loopbackHost(_ host: String?, _ expected: Bool) {
        #expect(HTTPRequest.isLoopbackHost(host) == expected, "\(host ?? "nil")")
    }
}
