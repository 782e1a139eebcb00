#if canImport(Glibc)
import Glibc
#endif
import Foundation
import FastCGIWire

/// A minimal FastCGI responder built on FastCGIWire's codec, serving one connection at a time,
/// so the client's keep-conn, close and timeout handling are exercised over a real unix socket.
final class ScriptedServer: @unchecked Sendable {
    /// What the server does once a request's STDIN is complete.
    enum Behavior: Sendable {
        /// Echo params and stdin in the body, then END_REQUEST.
        case echo
        /// Write this STDOUT (in records of `chunk` bytes), some STDERR, then END_REQUEST with `appStatus`.
        case respond(stdout: [UInt8], stderr: [UInt8], appStatus: UInt32, chunk: Int)
        /// Close the connection without END_REQUEST.
        case closeWithoutEnd
        /// Never answer.
        case silent
        /// Send raw bytes then close.
        case raw([UInt8])
        /// Answer with `size` body bytes as soon as BEGIN_REQUEST arrives, before reading PARAMS and STDIN.
        case answerBeforeReading(size: Int)
    }

    let directory: String
    let path: String
    private let listenFD: Int32
    private let behavior: Behavior
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var _connections = 0
    var connections: Int { lock.withLock { _connections } }

    init(_ behavior: Behavior = .echo) throws {
        var template = Array("/tmp/fcgiw-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: made)
        path = directory + "/s"
        self.behavior = behavior
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listenFD, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        finished.wait()
        close(listenFD)
        unlink(path)
        rmdir(directory)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { break }
            let number = lock.withLock { _connections += 1; return _connections }
            serve(fd, connection: number)
            close(fd)
        }
        finished.signal()
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    private func serve(_ fd: Int32, connection: Int) {
        var decoder = RecordDecoder()
        var params: [UInt8] = []
        var stdin: [UInt8] = []
        var keep = false
        var id: UInt16 = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
            if n <= 0 { return }
            decoder.feed(buffer[0..<n])
            guard let records = try? decoder.nextRecords() else { return }
            for record in records {
                switch record.type {
                case .getValues:
                    let pairs = [NameValuePair("FCGI_MPXS_CONNS", "0"), NameValuePair("FCGI_MAX_CONNS", "1")]
                    write(fd, Record(type: .getValuesResult, requestID: 0, content: NameValuePairs.encode(pairs)).encoded)
                case .beginRequest:
                    id = record.requestID
                    keep = (try? BeginRequestBody(decoding: record.content))?.keepConnection ?? false
                    params = []
                    stdin = []
                    if case .answerBeforeReading(let size) = behavior {
                        let out = Array("Status: 200 OK\r\n\r\n".utf8) + [UInt8](repeating: 0x62, count: size)
                        write(fd, Record.stream(.stdout, requestID: id, content: out)
                              + Record(type: .endRequest, requestID: id, content: EndRequestBody().encoded).encoded)
                    }
                case .params:
                    params += record.content
                case .stdin where !record.content.isEmpty:
                    stdin += record.content
                case .stdin:
                    if !respond(fd, id: id, params: params, stdin: stdin, connection: connection) || !keep { return }
                default:
                    continue
                }
            }
        }
    }

    /// Answers one request; returns false if the connection must be dropped.
    private func respond(_ fd: Int32, id: UInt16, params: [UInt8], stdin: [UInt8], connection: Int) -> Bool {
        switch behavior {
        case .echo:
            let pairs = (try? NameValuePairs.decode(params)) ?? []
            var body = "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Connection: \(connection)\r\n\r\n"
            for pair in pairs { body += "\(pair.nameString)=\(pair.valueString)\n" }
            body += "--\n"
            let out = Array(body.utf8) + stdin
            write(fd, Record.stream(.stdout, requestID: id, content: out)
                  + Record(type: .endRequest, requestID: id, content: EndRequestBody().encoded).encoded)
            return true
        case .respond(let stdout, let stderr, let appStatus, let chunk):
            var bytes = Record.stream(.stdout, requestID: id, content: stdout, maximumRecordLength: chunk)
            if !stderr.isEmpty { bytes += Record.stream(.stderr, requestID: id, content: stderr) }
            bytes += Record(type: .endRequest, requestID: id, content: EndRequestBody(appStatus: appStatus).encoded).encoded
            write(fd, bytes)
            return true
        case .closeWithoutEnd:
            write(fd, Record(type: .stdout, requestID: id, content: Array("Status: 200 OK\r\n".utf8)).encoded)
            return false
        case .silent:
            var scratch = [UInt8](repeating: 0, count: 16)
            _ = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 16, 0) }  // until the client gives up
            return false
        case .raw(let bytes):
            write(fd, bytes)
            return false
        case .answerBeforeReading:
            return true  // already answered
        }
    }
}
