import Logging
import Porter
import PorterHost
import PorterTesting
import Testing

/// A handler that answers a fixed text.
struct TextHandler: HTTPHandler {
    let text: String
    func processRequest(_ context: HTTPContext) throws {
        context.response.contentType = "text/plain"
        context.response.write(text)
    }
}

/// A handler that says it needs an exclusive session.
struct SessionNeedingHandler: HTTPHandler {
    var sessionState: SessionStateBehavior { .exclusive }
    func processRequest(_ context: HTTPContext) throws {}
}

/// A module that adds a header, to see that code modules run.
struct StampModule: HTTPModule {
    var name: String { "stamp" }
    func subscribe(to events: inout ModuleEvents) {
        events.on(.preSendRequestHeaders) { ctx in ctx.response.headers["X-Stamp"] = "1" }
    }
}

let quiet: Logger = {
    var logger = Logger(label: "porter.host-test")
    logger.logLevel = .critical
    return logger
}()

@Suite("PorterApplication: code-first mapping, configuration on top")
struct ApplicationTests {
    @Test("handlers mapped in code answer through the pipeline, with code modules")
    func codeFirst() async throws {
        var app = PorterApplication(name: "mine")
        app.map("GET", "/time", TextHandler(text: "now"))
        app.map("GET,POST", "*.txt") { ctx in ctx.response.write("async \(ctx.request.path)") }
        app.use(StampModule())
        let built = try app.build(app.configuration, logger: quiet)
        let client = PipelineTestClient(pipeline: built.pipeline, application: built.application)
        let time = await client.execute(.get, "/time")
        #expect(time.response.bodyText == "now" && time.response.headers["X-Stamp"] == "1")
        #expect(await client.execute(.post, "/a/b.txt").response.bodyText == "async /a/b.txt")
        #expect(await client.execute(.delete, "/time").response.status == .methodNotAllowed)
        #expect(await client.execute(.get, "/nothing").response.status == .notFound)
    }

    @Test("configured handlers come after code routes (first match wins) and use catalogue names")
    func codeThenConfiguration() async throws {
        var app = PorterApplication(name: "mine")
        app.map("GET", "/a", TextHandler(text: "code"))
        app.register { catalog in
            catalog.handlers.register("text", summary: "fixed text (options: text)") { options, _ in
                .instance(.sync(TextHandler(text: try options.string("text", default: "?"))))
            }
        }
        let configuration = try ServerConfiguration.parse(toml: """
            [[handlers]]
            verb = "GET"
            path = "/a"
            handler = "text"
            text = "config-a"

            [[handlers]]
            verb = "GET"
            path = "/b"
            handler = "text"
            text = "config-b"
            """, baseDirectory: ".", over: app.configuration)
        let built = try app.build(configuration, logger: quiet)
        let client = PipelineTestClient(pipeline: built.pipeline, application: built.application)
        #expect(await client.execute(.get, "/a").response.bodyText == "code")
        #expect(await client.execute(.get, "/b").response.bodyText == "config-b")
        let routes = try app.routes(for: configuration).map { "\($0.handler) \($0.pattern.text)" }
        #expect(routes == ["TextHandler /a", "text /a", "text /b"])
        let nginx = try app.nginxLocations(for: configuration)
        #expect(nginx.contains("location = /a {") && nginx.contains("location = /b {"))
    }

    @Test("a bad pattern in code is a startup error that names the call")
    func badPatternInCode() throws {
        var app = PorterApplication(name: "mine")
        app.map("GET", "no-slash", TextHandler(text: "x"))
        #expect { try app.build(app.configuration, logger: quiet) } throws: { error in
            "\(error)".contains("map(\"GET\", \"no-slash\")")
        }
    }

    @Test("a handler that declares session state without a session module fails at startup, saying what to add")
    func sessionWithoutModule() throws {
        var app = PorterApplication(name: "mine")
        app.map("GET", "/visits", SessionNeedingHandler())
        #expect { try app.build(app.configuration, logger: quiet) } throws: { error in
            let text = "\(error)"
            return text.contains("/visits") && text.contains("session")
        }
    }

    @Test("unknown handler and module names list the known ones")
    func unknownNames() throws {
        let app = PorterApplication(name: "mine")
        let handler = try ServerConfiguration.parse(toml: "[[handlers]]\npath = \"/x\"\nhandler = \"nope\"\n", baseDirectory: ".")
        #expect { try app.build(handler, logger: quiet) } throws: { "\($0)".contains("unknown handler \"nope\"") }
        let module = try ServerConfiguration.parse(toml: "[[modules]]\nname = \"nope\"\n", baseDirectory: ".")
        #expect { try app.build(module, logger: quiet) } throws: { "\($0)".contains("unknown module \"nope\"") && "\($0)".contains("errors") }
    }

    @Test("typed services: a module publishes, a builder requires; a missing provider is a startup error")
    func typedServices() throws {
        struct Clock: Sendable { let name: String }
        struct ClockModule: HTTPModule {
            func subscribe(to events: inout ModuleEvents) {}
            func publish(in services: ApplicationServices) { services.register(Clock(name: "wall")) }
        }
        var app = PorterApplication(name: "mine")
        app.register { catalog in
            catalog.modules.register("clock", summary: "a clock") { _, _ in ClockModule() }
            catalog.handlers.register("clock-page", summary: "needs a clock") { _, context in
                let clock = try context.services.require(Clock.self, by: "clock-page", hint: "add the clock module")
                return .instance(.sync(TextHandler(text: clock.name)))
            }
        }
        let without = try ServerConfiguration.parse(toml: "[[handlers]]\npath = \"/c\"\nhandler = \"clock-page\"\n", baseDirectory: ".")
        #expect { try app.build(without, logger: quiet) } throws: { "\($0)".contains("add the clock module") }
        let with = try ServerConfiguration.parse(toml: "[[modules]]\nname = \"clock\"\n[[handlers]]\npath = \"/c\"\nhandler = \"clock-page\"\n",
                                                 baseDirectory: ".")
        let built = try app.build(with, logger: quiet)
        #expect(built.application.services[Clock.self]?.name == "wall")
    }
}

@Suite("porter.toml")
struct ConfigurationTests {
    @Test("a file overrides only the settings it names; code defaults stay")
    func overlay() throws {
        var base = ServerConfiguration()
        base.threads = 3
        base.listen = "127.0.0.1:9001"
        let c = try ServerConfiguration.parse(toml: "threads = 5\n", baseDirectory: ".", over: base)
        #expect(c.threads == 5 && c.listen == "127.0.0.1:9001")
        let transport = try c.transport()
        #expect(c.minThreads == nil && transport.minThreads == nil, "no min_threads: one per CPU")
        let m = try ServerConfiguration.parse(toml: "threads = 5\nmin_threads = 3\n", baseDirectory: ".", over: base)
        let mTransport = try m.transport()
        #expect(m.minThreads == 3 && mTransport.minThreads == 3 && mTransport.threads == 5)
    }

    @Test("errors name the file and the setting", arguments: [
        ("lissen = \"x\"", "unknown setting \"lissen\""),
        ("threads = 0", "threads must be 1...1024"),
        ("threads = 4\nmin_threads = 5", "min_threads must be 1...threads (4)"),
        ("min_threads = 0", "min_threads must be 1...threads"),
        ("socket_mode = \"999\"", "socket_mode must be octal"),
        ("[[handlers]]\npath = \"x\"\nhandler = \"h\"", "handlers[0]"),
        ("[[modules]]\noptions = 1", "modules[0] needs name"),
        ("threads = [", "invalid TOML"),
    ])
    func errors(text: String, expected: String) throws {
        #expect { try ServerConfiguration.parse(toml: text, baseDirectory: ".", origin: "/etc/porter/porter.toml") } throws: { error in
            let message = "\(error)"
            return message.contains(expected) && message.contains("/etc/porter/porter.toml")
        }
    }

    @Test("relative data paths in options resolve against the configuration's directory")
    func relativePaths() throws {
        let c = try ServerConfiguration.parse(toml: """
            [[handlers]]
            path = "*.rss"
            handler = "feed"
            database = "data/feeds.sqlite"
            cache_control = "public"
            """, baseDirectory: "/etc/porter")
        #expect(c.handlers[0].options.values["database"] == .string("/etc/porter/data/feeds.sqlite"))
        #expect(c.handlers[0].options.values["cache_control"] == .string("public"))
    }
}

@Suite("The command line")
struct CommandLineTests {
    @Test("serve with no configuration and nothing mapped refuses, and says how to run the demo when there is one")
    func refusesWithoutConfiguration() async throws {
        var app = PorterApplication(name: "porter")
        app.demo = DemoProvider { _ in ServerConfiguration() }
        await #expect { try await app.run(arguments: ["serve"]) } throws: { error in
            let text = "\(error)"
            return text.contains("no configuration") && text.contains("serve --demo")
        }
        await #expect { try await app.run(arguments: ["check"]) } throws: { "\($0)".contains("no configuration") }
    }

    @Test("check builds the configuration and reports its first mistake")
    func checkReportsMistakes() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-check")
        let path = try dir.write("[[handlers]]\npath = \"/x\"\nhandler = \"missing\"\n", to: "porter.toml")
        let app = PorterApplication(name: "porter")
        await #expect { try await app.run(arguments: ["check", "--config", path]) } throws: { "\($0)".contains("unknown handler \"missing\"") }
        let good = try dir.write("threads = 2\n", to: "good.toml")
        var coded = PorterApplication(name: "porter")
        coded.map("GET", "/x", TextHandler(text: "x"))
        try await coded.run(arguments: ["check", "--config", good])
    }
}

@Suite("Option checking")
struct OptionCheckingTests {
    static func app() -> PorterApplication {
        var app = PorterApplication(name: "mine")
        app.register { catalog in
            catalog.handlers.register("text", summary: "fixed text (options: text)") { options, _ in
                .instance(.sync(TextHandler(text: try options.string("text", default: "?"))))
            }
            catalog.modules.register("stamp", summary: "stamps") { _, _ in StampModule() }
        }
        return app
    }

    @Test("a misspelled handler option is a startup error naming the key, its table and what the handler reads")
    func misspelledHandlerOption() throws {
        let c = try ServerConfiguration.parse(toml: "[[handlers]]\npath = \"/t\"\nhandler = \"text\"\ntxet = \"hi\"\n",
                                              baseDirectory: ".", origin: "site.toml")
        #expect { try Self.app().build(c, logger: quiet) } throws: { error in
            let text = "\(error)"
            return text.contains("site.toml: handlers[0]") && text.contains("unknown option \"txet\"") && text.contains("reads: ")
                && text.contains("text")
        }
    }

    @Test("a module option the module does not take is refused; max_concurrency is the host's and always allowed")
    func moduleOptionAndHostOptions() throws {
        let bad = try ServerConfiguration.parse(toml: "[[modules]]\nname = \"stamp\"\ncolour = \"red\"\n", baseDirectory: ".")
        #expect { try Self.app().build(bad, logger: quiet) } throws: { "\($0)".contains("unknown option \"colour\" for module \"stamp\" (it takes none)") }
        let good = try ServerConfiguration.parse(toml: "[[handlers]]\npath = \"/t\"\nhandler = \"text\"\ntext = \"x\"\nmax_concurrency = 4\n",
                                                 baseDirectory: ".")
        _ = try Self.app().build(good, logger: quiet)
    }

    @Test("data_directory anchors relative data paths; the configuration's directory is the default")
    func dataDirectory() throws {
        let anchored = try ServerConfiguration.parse(toml: "data_directory = \"/var/lib/porter\"\n[[handlers]]\npath = \"*.rss\"\nhandler = \"feed\"\ndatabase = \"feeds.sqlite\"\n",
                                                     baseDirectory: "/etc/porter")
        #expect(anchored.handlers[0].options.values["database"] == .string("/var/lib/porter/feeds.sqlite"))
        let relative = try ServerConfiguration.parse(toml: "data_directory = \"state\"\n", baseDirectory: "/etc/porter")
        #expect(relative.dataDirectory == "/etc/porter/state")
    }
}

@Suite("Module edge policies: what a configured module adds to the generated nginx locations")
struct ModuleEdgeTests {
    /// A catalogue module that asks for `include <snippet>;` on the locations under its `paths` option.
    static func app() -> PorterApplication {
        var app = PorterApplication(name: "edge")
        app.map("GET", "/code", TextHandler(text: "code"))
        app.register { catalog in
            catalog.handlers.register("text", summary: "fixed text",
                                      edge: { _ in EdgePolicy(rateLimit: .init(zone: "z", burst: 3)) }) { options, _ in
                .instance(.sync(TextHandler(text: try options.string("text", default: "?"))))
            }
            catalog.modules.register("guard", summary: "adds a snippet", routeEdge: { options, pattern in
                let prefixes = try options.strings("paths", default: ["/"])
                guard case .directory(let dir) = pattern.kind, prefixes.contains(where: dir.hasPrefix) else { return EdgePolicy() }
                return EdgePolicy(maxBodyBytes: 4096, includes: [try options.string("snippet", default: "guard.conf")])
            }) { _, _ in StampModule() }
        }
        return app
    }

    @Test("the module's snippet lands in the locations it covers, after the FastCGI include; the stricter body limit and the handler's own policy stay")
    func moduleIncludesAreMerged() throws {
        let app = Self.app()
        let configuration = try ServerConfiguration.parse(toml: """
            [[modules]]
            name = "guard"
            paths = ["/admin/"]
            snippet = "porter-identity.conf"

            [[handlers]]
            verb = "GET"
            path = "/admin/*"
            handler = "text"

            [[handlers]]
            verb = "GET"
            path = "/open/*"
            handler = "text"
            """, baseDirectory: ".", over: app.configuration)
        let rules = try app.nginxLocations(for: configuration)
        #expect(rules.contains("""
            location ^~ /admin/ {
                client_max_body_size 1;
                limit_req zone=z burst=3 nodelay;
                include porter-fastcgi.conf;
                include porter-identity.conf;
            }
            """), "\(rules)")
        #expect(rules.contains("location ^~ /open/ {\n    client_max_body_size 1;\n    limit_req zone=z burst=3 nodelay;\n    include porter-fastcgi.conf;\n}"))
        #expect(rules.contains("location = /code {\n    client_max_body_size 1;\n    include porter-fastcgi.conf;\n}"))
    }

    @Test("merging keeps the stricter limits, the route's own rate limit, and each include once")
    func mergeRules() {
        var policy = EdgePolicy(maxBodyBytes: 1 << 20, rateLimit: .init(zone: "own", burst: 1), includes: ["a.conf"])
        policy.merge(EdgePolicy(maxBodyBytes: 1024, localOnly: true, rateLimit: .init(zone: "other", burst: 9), includes: ["a.conf", "b.conf"]))
        #expect(policy.maxBodyBytes == 1024 && policy.localOnly && policy.rateLimit?.zone == "own")
        #expect(policy.includes == ["a.conf", "b.conf"])
    }
}
