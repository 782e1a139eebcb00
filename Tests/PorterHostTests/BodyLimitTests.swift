import Porter
import PorterHost
import PorterTesting
import Testing

/// Request body limits in the configuration and the generated nginx locations (issue 10, item 4).
@Suite("body limits")
struct BodyLimitTests {
    @Test(arguments: [("1048576", 1 << 20), ("16m", 16 << 20), ("16M", 16 << 20), ("512k", 512 << 10), ("1g", 1 << 30), ("0", 0)])
    func sizesParse(_ text: String, _ bytes: Int) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "m", "-1", "1.5m", "16mb", "9999999999999g", "1 2"])
    func badSizesDoNot(_ text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func defaultsAndPerRouteOptions() throws {
        #expect(ServerConfiguration().maxBodyBytes == 1 << 20)
        let configuration = try ServerConfiguration.parse(toml: """
            max_body_bytes = "4m"
            [[handlers]]
            path = "/upload"
            handler = "up"
            max_body = "16m"
            [[handlers]]
            path = "/form"
            handler = "up"
            max_body = 2048
            """, baseDirectory: ".")
        #expect(configuration.maxBodyBytes == 4 << 20)
        #expect(configuration.handlers.map(\.maxBodyBytes) == [16 << 20, 2048])
        #expect(configuration.handlers[0].options.values["max_body"] == nil, "the host's option, not the handler's")
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.parse(toml: "[[handlers]]\npath = \"/x\"\nhandler = \"up\"\nmax_body = \"lots\"\n", baseDirectory: ".")
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parse(toml: "max_body_bytes = \"-3\"\n", baseDirectory: ".") }
    }

    @Test func everyLocationCarriesItsRoutesLimit() throws {
        var app = PorterApplication(name: "limits")
        app.register { catalog in
            catalog.handlers.register("up", summary: "takes uploads") { _, _ in .instance(.sync(TextHandler(text: "ok"))) }
            catalog.handlers.register("small", summary: "a handler with its own default", edge: { _ in EdgePolicy(maxBodyBytes: 8 << 10) }) { _, _ in
                .instance(.sync(TextHandler(text: "ok")))
            }
        }
        app.map("POST", "/code", TextHandler(text: "code"), maxBodyBytes: 3 << 20)
        let configuration = try ServerConfiguration.parse(toml: """
            [[handlers]]
            verb = "GET,HEAD"
            path = "/read"
            handler = "up"
            [[handlers]]
            verb = "POST"
            path = "/upload"
            handler = "up"
            max_body = "16m"
            [[handlers]]
            path = "/any"
            handler = "up"
            [[handlers]]
            verb = "POST"
            path = "/small"
            handler = "small"
            [[handlers]]
            verb = "POST"
            path = "/small-but-bigger"
            handler = "small"
            max_body = "64k"
            """, baseDirectory: ".", over: app.configuration)
        let routes = try app.routes(for: configuration)
        #expect(routes.map(\.maxBodyBytes) == [3 << 20, nil, 16 << 20, nil, 8 << 10, 64 << 10])
        let nginx = try app.nginxLocations(for: configuration)
        for (path, size) in [("/code", "3m"), ("/read", "1"), ("/upload", "16m"), ("/any", "1m"), ("/small", "8k"), ("/small-but-bigger", "64k")] {
            #expect(nginx.contains("location = \(path) {\n    client_max_body_size \(size);\n"), "\(path): \(size)\n\(nginx)")
        }
    }
}
