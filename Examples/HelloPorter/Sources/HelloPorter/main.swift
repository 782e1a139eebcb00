import Glibc
import Porter
import PorterHost

/// A sync handler (ASP.NET's IHttpHandler): runs on Porter's worker threads, so it may block.
struct TimeHandler: HTTPHandler {
    func processRequest(_ context: HTTPContext) throws {
        context.response.contentType = "text/plain"
        context.response.write("It is \(HTTPDate.rfc1123(Int64(time(nil))))\n")
    }
}

/// An async handler (HttpTaskAsyncHandler): awaiting holds no thread.
struct WeatherHandler: AsyncHTTPHandler {
    func processRequest(_ context: HTTPContext) async throws {
        guard let city = context.request.query["city"], !city.isEmpty else {
            throw HTTPError(.badRequest, message: "city required")
        }
        try await Task.sleep(for: .milliseconds(20))            // stands in for a call to a weather service
        context.response.setJSON(["city": .string(city), "forecast": .string("sunny")])
    }
}

/// A module (IHttpModule): subscribes to lifecycle events and passes a typed item between them.
struct ServerTimingModule: HTTPModule {
    struct Start: Sendable { let at: ContinuousClock.Instant }

    func subscribe(to events: inout ModuleEvents) {
        events.on(.beginRequest) { ctx in ctx.items[Start.self] = Start(at: .now) }
        events.on(.preSendRequestHeaders) { ctx in
            if let start = ctx.items[Start.self] {
                let ms = (ContinuousClock.now - start.at) / .milliseconds(1)
                ctx.response.headers["Server-Timing"] = "app;dur=\(ms)"
            }
        }
    }
}

var app = PorterApplication()
app.configuration.listen = "/run/hello-porter/porter.sock"   // or --listen, --socket, or a porter.toml
app.map("GET,HEAD", "/time", TimeHandler())
app.map("GET,HEAD", "*.weather", WeatherHandler())
app.use(ServerTimingModule())
await app.main()                                             // serve, check, nginx-config, request, …
