public import PorterHost
public import ArgumentParser
import Porter
import PorterFeeds
import PorterImages
import PorterOps
import PorterState

/// The demo's handlers (`hello`, `echo`, `slow`, `sample`, `visits`, `report`, and `crash` for crash-recovery
/// tests), the `sample-images` subcommand, and the `serve --demo` setup. Only the `porter` executable uses it.
public struct DemoFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "demo" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("hello", summary: "answers Hello, world (options: greeting)") { options, _ in
            .instance(.sync(try HelloHandler(options: options)))
        }
        catalog.handlers.register("echo", summary: "echoes the request as JSON") { _, _ in .instance(.sync(EchoHandler())) }
        catalog.handlers.register("slow", summary: "async: awaits ?ms= (options: ms, max_ms) then says hello") { options, _ in
            .instance(.async(try SlowHandler(options: options)))
        }
        catalog.handlers.register("sample", summary: "a sample generic handler, built per request (isReusable = false)") { _, _ in
            .make { .sync(SampleHandler()) }
        }
        catalog.handlers.register("visits", summary: "counts visits per session and shows who you are (exclusive session)") { options, _ in
            .instance(.sync(try VisitsHandler(options: options)))
        }
        catalog.handlers.register("report", summary: "answers 202 + Location at once and builds a report in the background") { options, _ in
            .instance(.async(try ReportHandler(options: options)))
        }
        catalog.handlers.register("clock", summary: "the time with microseconds at ?tz= (UTC, +02:00): the output-cache demo") { _, _ in
            .instance(.sync(ClockHandler()))
        }
        catalog.handlers.register("events", summary: "a text/event-stream of 5 events 200 ms apart, streamed through nginx (options: count, interval_ms)",
                                  edge: { _ in EventsHandler.edge }) { options, _ in
            .instance(.async(try EventsHandler(options: options)))
        }
        catalog.handlers.register("upload", summary: "multipart form: answers its fields and files' sizes and SHA-256 as JSON (options: max_files, max_fields, max_field_bytes)") { options, _ in
            .instance(.sync(try UploadHandler(options: options)))
        }
        catalog.handlers.register("crash", summary: "traps the process (index out of range): for crash-recovery tests only") { _, _ in
            .instance(.sync(CrashHandler()))
        }
    }

    public var commands: [any ParsableCommand.Type] { [SampleImagesCommand.self] }
}

extension PorterApplication {
    /// The `porter` program: every built-in feature plus the demo (`porter serve --demo`).
    public static var porter: PorterApplication {
        var app = PorterApplication(name: "porter")
        app.add(FeedsFeature())
        app.add(ImagesFeature())
        app.add(StateFeature())
        app.add(OpsFeature())
        app.add(DemoFeature())
        app.demo = DemoSetup.provider
        return app
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
