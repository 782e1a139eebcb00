import ArgumentParser
import FastCGIWire
import Porter

/// `porter request`: sends one request straight to a FastCGI socket (no nginx) and prints the response.
struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request",
                                                    abstract: "Send a request to a Porter (or any FastCGI) socket and print the response.")

    @Option(help: "Unix socket path of the server.") var socket: String?
    @Option(help: "TCP address host:port of the server.") var address: String?
    @Option(name: [.customShort("X"), .customLong("method")], help: "HTTP method.") var method: String = "GET"
    @Option(name: [.customShort("H"), .customLong("header")], help: "A request header, 'Name: value' (repeatable).") var headers: [String] = []
    @Option(name: [.customShort("d"), .customLong("data")], help: "Request body (use @file to read a file).") var data: String?
    @Flag(name: .shortAndLong, help: "Print the status line and headers too.") var include = false
    @Option(help: "Timeout in seconds.") var timeout: Int = 10
    @Argument(help: "The request URI, e.g. /hello?x=1.") var uri: String

    func run() throws {
        let client: FastCGIClient
        if let socket {
            client = FastCGIClient(unixPath: socket, timeout: .seconds(timeout))
        } else if let address, let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) {
            client = FastCGIClient(host: String(address[..<colon]), port: port, timeout: .seconds(timeout))
        } else {
            throw ValidationError("give --socket PATH or --address HOST:PORT")
        }
        defer { client.close() }
        var fields = HTTPHeaders()
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else { throw ValidationError("header \"\(header)\" must look like 'Name: value'") }
            fields.add(String(header[..<colon]), header[header.index(after: colon)...].trimmingSpaces())
        }
        var body: [UInt8] = []
        if let data {
            if data.hasPrefix("@") {
                guard let text = FileText.read(String(data.dropFirst())) else { throw ValidationError("cannot read \(data.dropFirst())") }
                body = Array(text.utf8)
            } else {
                body = Array(data.utf8)
            }
            if !fields.contains("Content-Type") { fields.add("Content-Type", "application/x-www-form-urlencoded") }
        }
        let request = FastCGIRequest(method: method, uri: uri, headers: fields, body: body)
        let response: FastCGIResponse
        do {
            response = try client.send(request)
        } catch {
            throw ConfigurationError("request failed: \(error)")
        }
        if include {
            print("Status: \(response.status)")
            for field in response.headers { print("\(field.name): \(field.value)") }
            print("")
        }
        print(response.bodyText, terminator: "")
        if !response.stderr.isEmpty { FileHandleStderr.write(response.stderr) }
        if response.status >= 400 { throw ExitCode(22) }
    }
}


import Glibc

/// Writes diagnostics to standard error.
enum FileHandleStderr {
    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
