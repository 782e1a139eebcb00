public import Porter

extension HandlerCatalog {
    /// Every handler Porter ships, by the name the configuration uses.
    public static var builtIn: HandlerCatalog {
        var c = HandlerCatalog()
        c.register("hello", summary: "answers Hello, world (options: greeting)") { options, _ in
            .instance(.sync(try HelloHandler(options: options)))
        }
        c.register("echo", summary: "echoes the request as JSON") { _, _ in .instance(.sync(EchoHandler())) }
        c.register("slow", summary: "async: awaits ?ms= (options: ms, max_ms) then says hello") { options, _ in
            .instance(.async(try SlowHandler(options: options)))
        }
        c.register("sample", summary: "a sample generic handler, built per request (isReusable = false)") { _, _ in
            .make { .sync(SampleHandler()) }
        }
        c.register("crash", summary: "traps the process (index out of range): for crash-recovery tests only") { _, _ in
            .instance(.sync(CrashHandler()))
        }
        registerFeatureHandlers(&c)
        return c
    }
}

extension ModuleCatalog {
    /// Every module Porter ships, by the name the configuration uses.
    public static var builtIn: ModuleCatalog {
        var c = ModuleCatalog()
        c.register("log", summary: "one log line per request; slow requests as warnings (options: slow_ms)") { options, _ in
            RequestLoggingModule(slowThreshold: .milliseconds(try options.int("slow_ms", default: 1000)))
        }
        c.register("errors", summary: "HTML error pages; no internals leaked") { _, _ in ErrorPageModule() }
        registerFeatureModules(&c)
        return c
    }
}

/// Traps on purpose (index out of range) so crash recovery can be tested.
struct CrashHandler: HTTPHandler {
    func processRequest(_ context: HTTPContext) throws {
        let values = [1, 2, 3]
        let index = Int(context.request.query["i"] ?? "") ?? values.count
        context.response.write("value \(values[index])\n")
    }
}
