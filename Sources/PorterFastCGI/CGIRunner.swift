public import Porter
public import Logging
import Glibc

/// Answers the single request of a plain CGI invocation (no FastCGI socket): parameters from the
/// environment, the body from stdin (`CONTENT_LENGTH` bytes), the response to stdout.
public enum CGIRunner {
    /// Whether this process was started as a CGI program rather than as a FastCGI server (libfcgi's `FCGX_IsCGI`).
    public static func isCGI() -> Bool { LibFCGI.isCGI() }

    /// Runs the pipeline once for the request in the environment and writes the CGI response.
    public static func run(pipeline: Pipeline, application: ApplicationState, logger: Logger, maxBodyBytes: Int = 32 << 20) async {
        var params: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { params[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        let length = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        var response = HTTPResponse()
        if length > maxBodyBytes {
            response.setText("Request body too large\n", status: .payloadTooLarge)
        } else {
            var body = [UInt8](repeating: 0, count: length)
            var got = 0
            while got < length {
                let n = body.withUnsafeMutableBytes { read(0, $0.baseAddress! + got, length - got) }
                if n <= 0 { break }
                got += n
            }
            body.removeLast(length - got)
            let context = HTTPContext(request: HTTPRequest(cgiParameters: params, body: body), application: application, logger: logger)
            await pipeline.run(context)
            response = context.response
            if context.request.method == .head { response.body = .buffer([]) }
        }
        switch response.body {
        case .buffer(let bytes):
            writeAll(response.cgiHead(bodyLength: bytes.count))
            writeAll(bytes)
        case .stream(let produce):
            writeAll(response.cgiHead(bodyLength: nil))
            try? await produce(StdoutWriter())
        }
    }

    static func writeAll(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + off, bytes.count - off) }
            if n <= 0 { return }
            off += n
        }
    }

    struct StdoutWriter: ResponseBodyWriter {
        func write(_ bytes: [UInt8]) async throws { CGIRunner.writeAll(bytes) }
    }
}
