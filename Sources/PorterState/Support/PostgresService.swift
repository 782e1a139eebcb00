import CoreMetrics
import Foundation
public import Logging
public import Porter
public import ServiceLifecycle
import Synchronization

/// One PostgreSQL connection pool on libpq, PostgreSQL's own client library (so every libpq connection setting
/// works: `sslmode=verify-full`, SCRAM, unix sockets, `PG*` environment variables, service files). Each connection
/// has its own thread that runs queries one at a time; a query suspends its task until that thread answers, so no
/// Swift concurrency thread ever waits on the database. Connections open on first use (up to `maximumConnections`),
/// are checked before reuse (one reopened after the server closed it), and close after a minute unused or when the
/// service stops. While every connection is busy, work waits at most `queueTimeout` (then `PostgresPoolBusy`, a 503).
/// Cancelling a query's task (the client went away, the request timed out) takes waiting work out of the queue and
/// cancels a running query in the server (`PQcancel`: it fails with SQLSTATE 57014 and its transaction rolls back).
///
/// A ServiceLifecycle `Service`: `run()` waits for graceful shutdown and then closes the idle connections; a query
/// made after that opens a connection again. Hand it to the host (`context.run(service)`, `app.run(service)`).
public final class PostgresService: Service, Sendable {
    /// The libpq connection string or `postgres://` URI this pool connects with.
    public let connectionString: String
    /// The most connections (and threads) this pool opens at once.
    public let maximumConnections: Int
    /// How long work waits for a connection while all are busy before it fails with `PostgresPoolBusy` (503).
    public let queueTimeout: Duration
    private let pool: ConnectionPool

    /// The default `queueTimeout` (`postgres_queue_timeout_ms`).
    public static let defaultQueueTimeout = Duration.seconds(5)

    /// A pool for `connection`: a libpq URI (`postgres://user:password@host:port/database?sslmode=require`,
    /// `postgres://user@/database?host=/run/postgresql`) or a `key=value` connection string.
    public init(connection: String, maximumConnections: Int = 8, queueTimeout: Duration = PostgresService.defaultQueueTimeout,
                logger: Logger = Logger(label: "porter.postgres")) {
        connectionString = connection
        self.maximumConnections = max(1, maximumConnections)
        self.queueTimeout = max(.milliseconds(1), queueTimeout)
        pool = ConnectionPool(connection: connection, maximum: self.maximumConnections, queueTimeout: self.queueTimeout,
                              logger: logger)
    }

    /// A pool for a `postgres://` URL; throws unless it is one (see `PostgresService.configuration(url:)`).
    public convenience init(url: String, logger: Logger = Logger(label: "porter.postgres")) throws {
        self.init(connection: try PostgresService.configuration(url: url), logger: logger)
    }

    /// Waits for graceful shutdown (or cancellation), then closes the idle connections and returns.
    public func run() async throws {
        try? await gracefulShutdown()
        pool.stop()
    }

    /// Runs `query` on a pooled connection and returns its rows (none for a statement that returns none).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await pool.perform { try $0.query(query) }
    }

    /// Runs `body` on one connection inside `BEGIN` … `COMMIT` (`ROLLBACK` when it throws). `body` runs on the
    /// connection's thread: it should only query.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pool.perform { connection in
            try connection.query("BEGIN")
            do {
                let result = try body(connection)
                try connection.query("COMMIT")
                return result
            } catch {
                _ = try? connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// How many connections are open now (for tests and status pages).
    public var openConnections: Int { pool.openConnections }

    /// How many times work waited `queueTimeout` for a connection and failed with `PostgresPoolBusy`.
    public var queueTimeouts: Int { pool.queueTimeoutCount }

    /// How much work is waiting for a connection now (for tests and status pages).
    public var queuedWork: Int { pool.queuedCount }

    /// Checks that `url` is a `postgres://` or `postgresql://` URL and returns it for libpq, which reads every
    /// part of it (`?sslmode=disable|prefer|require|verify-ca|verify-full`, `?host=/run/postgresql` for a socket
    /// directory, …).
    public static func configuration(url: String) throws -> String {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw ConfigurationError("postgres_url must look like postgres://user:password@host:port/database")
        }
        if let mode = c.queryItems?.first(where: { $0.name == "sslmode" })?.value { try checkSSLMode(mode) }
        return url
    }

    /// Throws unless `mode` is one of libpq's `sslmode` values.
    private static func checkSSLMode(_ mode: String) throws {
        let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
        guard modes.contains(mode) else {
            throw ConfigurationError("postgres tls/sslmode must be one of \(modes.joined(separator: ", ")), got \(mode)")
        }
    }

    /// A libpq connection string for these settings (values quoted as libpq requires); `tls` is libpq's `sslmode`.
    public static func configuration(host: String, port: Int, user: String, password: String?, database: String,
                                     tls: String) throws -> String {
        try checkSSLMode(tls)
        func quoted(_ value: String) -> String {
            "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        var parts = ["host=\(quoted(host))", "port=\(port)", "user=\(quoted(user))", "dbname=\(quoted(database))",
                     "sslmode=\(tls)"]
        if let password { parts.append("password=\(quoted(password))") }
        return parts.joined(separator: " ")
    }
}

extension PostgresService {
    /// Reads a module's PostgreSQL keys: `postgres_url`, or `postgres_host` (localhost), `postgres_port` (5432),
    /// `postgres_user` (porter), `postgres_password`, `postgres_database` (porter), `postgres_tls` (disable; libpq's
    /// `sslmode`); `postgres_max_connections` (8, per process: 1...100) and `postgres_queue_timeout_ms` (5000:
    /// 1...300000, how long work waits for a busy pool before a 503). Returns the connection string, the pool
    /// settings and a key naming them (equal keys: the same database, so one pool serves both).
    public static func configuration(options: Options) throws
        -> (connection: String, maximumConnections: Int, queueTimeout: Duration, key: String) {
        let maximum = try options.int("postgres_max_connections", default: 8)
        guard (1...100).contains(maximum) else {
            throw ConfigurationError("postgres_max_connections must be 1...100, got \(maximum)")
        }
        let queueMillis = try options.int("postgres_queue_timeout_ms", default: 5000)
        guard (1...300_000).contains(queueMillis) else {
            throw ConfigurationError("postgres_queue_timeout_ms must be 1...300000, got \(queueMillis)")
        }
        let queueTimeout = Duration.milliseconds(queueMillis)
        if let url = try options.string("postgres_url") {
            return (try configuration(url: url), maximum, queueTimeout, "\(maximum) \(queueMillis) \(url)")
        }
        let host = try options.string("postgres_host", default: "localhost")
        let port = try options.int("postgres_port", default: 5432)
        let user = try options.string("postgres_user", default: "porter")
        let password = try options.string("postgres_password")
        let database = try options.string("postgres_database", default: "porter")
        let tls = try options.string("postgres_tls", default: "disable")
        let connection = try configuration(host: host, port: port, user: user, password: password, database: database, tls: tls)
        return (connection, maximum, queueTimeout, "\(maximum) \(queueMillis) \(connection)")
    }
}

/// A SQL statement with its parameters: each interpolated value becomes a bound parameter (`$1`, `$2`, …), never
/// SQL text. `"SELECT data FROM t WHERE id = \(id) AND expires_ms > \(now)"`.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    /// The statement, with `$n` placeholders.
    public private(set) var sql: String
    /// The parameters' values as PostgreSQL text (nil is SQL NULL) and type OIDs.
    var values: [String?] = []
    var types: [UInt32] = []

    /// A statement written out in full, with no parameters (schema DDL).
    public init(unsafeSQL: String) { sql = unsafeSQL }

    /// A literal statement with no parameters.
    public init(stringLiteral value: String) { sql = value }

    /// A statement built by interpolation.
    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        values = stringInterpolation.values
        types = stringInterpolation.types
    }

    /// Collects the literal text and binds each interpolated value.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var values: [String?] = []
        var types: [UInt32] = []

        /// Room for the literal's text.
        public init(literalCapacity: Int, interpolationCount: Int) { sql.reserveCapacity(literalCapacity + 4 * interpolationCount) }
        /// SQL text.
        public mutating func appendLiteral(_ literal: String) { sql += literal }
        /// A `text` parameter (nil: NULL).
        public mutating func appendInterpolation(_ value: String?) { bind(value, type: 25) }
        /// A `bigint` parameter (nil: NULL).
        public mutating func appendInterpolation(_ value: Int64?) { bind(value.map { String($0) }, type: 20) }
        /// An `integer` parameter.
        public mutating func appendInterpolation(_ value: Int32) { bind(String(value), type: 23) }
        /// A `bigint` parameter.
        public mutating func appendInterpolation(_ value: Int) { bind(String(value), type: 20) }
        /// A `boolean` parameter.
        public mutating func appendInterpolation(_ value: Bool) { bind(value ? "t" : "f", type: 16) }

        private mutating func bind(_ value: String?, type: UInt32) {
            values.append(value)
            types.append(type)
            sql += "$\(values.count)"
        }
    }
}

/// One row of a result, its columns as PostgreSQL's text (nil for NULL).
public struct PostgresRow: Sendable, Equatable {
    /// The columns, in the statement's order.
    public let columns: [String?]

    /// Column `index` as text; throws when it is NULL or missing.
    public func string(_ index: Int) throws -> String {
        guard index < columns.count, let value = columns[index] else { throw PostgresError("column \(index) is NULL or missing") }
        return value
    }

    /// Column `index` as text, nil when NULL.
    public func optionalString(_ index: Int) -> String? { index < columns.count ? columns[index] : nil }

    /// Column `index` as an integer; throws when it is NULL or not one.
    public func int(_ index: Int) throws -> Int64 {
        guard let value = Int64(try string(index)) else { throw PostgresError("column \(index) is not an integer") }
        return value
    }

    /// Column `index` as an integer, nil when NULL; throws when it is another value.
    public func optionalInt(_ index: Int) throws -> Int64? {
        guard let text = optionalString(index) else { return nil }
        guard let value = Int64(text) else { throw PostgresError("column \(index) is not an integer") }
        return value
    }
}

/// A query failed: the server's message and SQLSTATE, or a connection error.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What the server or libpq said.
    public let message: String
    /// The SQLSTATE code (`23505`: unique violation, …), when the server sent one.
    public let sqlState: String?

    init(_ message: String, sqlState: String? = nil) {
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String { sqlState.map { "PostgreSQL \($0): \(message)" } ?? "PostgreSQL: \(message)" }
}

/// One libpq connection, used only by its pool thread (inside `PostgresService.transaction`).
public final class PostgresConnection {
    private let pq: LibPQ
    private let connection: OpaquePointer
    /// Cancels this connection's running query from another thread.
    fileprivate let canceller: QueryCanceller?

    fileprivate init(_ connectionString: String) throws {
        // Both lists end with a null pointer, as libpq requires.
        let keywords: [String?] = ["connect_timeout", "application_name", "dbname", nil]
        let values: [String?] = ["10", "porter", connectionString, nil]
        // expand_dbname: the dbname value is itself a connection string or URI whose settings override the ones before it.
        let pq = try LibPQ.loaded()
        let made: OpaquePointer? = withCStrings(keywords) { k in withCStrings(values) { v in pq.connectdbParams(k, v, 1) } }
        guard let made else { throw PostgresError("out of memory") }
        guard pq.status(made) == LibPQ.connectionOK else {
            let message = LibPQ.text(pq.errorMessage(made))
            pq.finish(made)
            throw PostgresError("cannot connect: \(message)")
        }
        // Notices (`relation already exists, skipping`) would go to stderr; the statements that matter fail instead.
        _ = pq.setNoticeProcessor(made, { _, _ in }, nil)
        self.pq = pq
        connection = made
        canceller = QueryCanceller(pq, made)
    }

    deinit { pq.finish(connection) }

    /// Whether the connection can still be used: open, and nothing arrived while it sat idle. The pool sends no
    /// LISTEN, so what arrives on an idle connection is the server ending it (a restart, `pg_terminate_backend`,
    /// `idle_session_timeout`: an error message, then the close); such a connection is replaced, with no query lost.
    fileprivate var isUsable: Bool {
        guard pq.status(connection) == LibPQ.connectionOK else { return false }
        var probe = pollfd(fd: pq.socket(connection), events: Int16(POLLIN), revents: 0)
        return poll(&probe, 1, 0) == 0
    }

    /// Runs `query` and returns its rows; throws `PostgresError` when the server refuses it.
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        // libpq takes C strings, so a NUL would silently cut the value; PostgreSQL's text cannot hold one anyway.
        if query.values.contains(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError("a text parameter holds a NUL byte, which PostgreSQL text cannot store", sqlState: "22021")
        }
        let result: OpaquePointer? = withCStrings(query.values) { values in
            query.types.withUnsafeBufferPointer { types in
                pq.execParams(connection, query.sql, Int32(query.values.count), types.baseAddress, values, nil, nil, 0)
            }
        }
        guard let result else { throw PostgresError(LibPQ.text(pq.errorMessage(connection))) }
        defer { pq.clear(result) }
        switch pq.resultStatus(result) {
        case LibPQ.commandOK, LibPQ.emptyQuery:
            return []
        case LibPQ.tuplesOK:
            let (rowCount, columnCount) = (pq.ntuples(result), pq.nfields(result))
            var rows: [PostgresRow] = []
            rows.reserveCapacity(Int(rowCount))
            for r in 0..<rowCount {
                var columns: [String?] = []
                columns.reserveCapacity(Int(columnCount))
                for c in 0..<columnCount {
                    columns.append(pq.getisnull(result, r, c) == 1 ? nil : pq.getvalue(result, r, c).map { String(cString: $0) })
                }
                rows.append(PostgresRow(columns: columns))
            }
            return rows
        default:
            let state = pq.resultErrorField(result, LibPQ.diagnosticSQLState).map { String(cString: $0) }
            throw PostgresError(LibPQ.text(pq.resultErrorMessage(result)), sqlState: state)
        }
    }
}

/// Cancels the query running on one connection, from any thread (libpq's `PQcancel` is made for that; its handle is
/// independent of the connection's own state).
private final class QueryCanceller: @unchecked Sendable {
    private let pq: LibPQ
    private let handle: OpaquePointer
    /// Cancel requests on their way to the server; the pool starts no other query on the connection meanwhile
    /// (guarded by the pool's lock).
    var inFlight = 0

    init?(_ pq: LibPQ, _ connection: OpaquePointer) {
        guard let handle = pq.getCancel(connection) else { return nil }
        self.pq = pq
        self.handle = handle
    }

    deinit { pq.freeCancel(handle) }

    /// Asks the server to cancel the running query (it then fails with SQLSTATE 57014); blocks for a round trip to
    /// the server, so it runs on a thread of its own. Returns libpq's error if the request could not be sent; a query
    /// that had already finished is not affected.
    func cancel() -> String? {
        var message = [CChar](repeating: 0, count: 256)
        return pq.cancel(handle, &message, Int32(message.count)) == 1 ? nil : String(cString: message)
    }
}

/// libpq, loaded with dlopen on first use (like libvips): a process that configures no PostgreSQL store never maps
/// it and the ~20 libraries it brings (Kerberos, LDAP, SASL, GnuTLS). `libpq.so.5` is libpq's ABI since PostgreSQL
/// 8.x; the few functions and constants used are declared here, and `LibPQHeaderTests` checks the constants against
/// `libpq-fe.h`.
package struct LibPQ: @unchecked Sendable {
    /// `CONNECTION_OK` (ConnStatusType).
    package static let connectionOK: Int32 = 0
    /// `PGRES_EMPTY_QUERY`, `PGRES_COMMAND_OK`, `PGRES_TUPLES_OK` (ExecStatusType).
    package static let emptyQuery: Int32 = 0, commandOK: Int32 = 1, tuplesOK: Int32 = 2
    /// `PG_DIAG_SQLSTATE`.
    package static let diagnosticSQLState = Int32(UInt8(ascii: "C"))
    /// The library's file name.
    package static let soname = "libpq.so.5"

    typealias Conn = OpaquePointer
    typealias Result = OpaquePointer
    typealias CStrings = UnsafePointer<UnsafePointer<CChar>?>
    typealias NoticeProcessor = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
    let connectdbParams: @convention(c) (CStrings?, CStrings?, Int32) -> Conn?
    let status: @convention(c) (Conn?) -> Int32
    let errorMessage: @convention(c) (Conn?) -> UnsafeMutablePointer<CChar>?
    let finish: @convention(c) (Conn?) -> Void
    let setNoticeProcessor: @convention(c) (Conn?, NoticeProcessor?, UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?
    let socket: @convention(c) (Conn?) -> Int32
    let execParams: @convention(c) (Conn?, UnsafePointer<CChar>?, Int32, UnsafePointer<UInt32>?, CStrings?,
                                    UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Result?
    let resultStatus: @convention(c) (Result?) -> Int32
    let ntuples: @convention(c) (Result?) -> Int32
    let nfields: @convention(c) (Result?) -> Int32
    let getisnull: @convention(c) (Result?, Int32, Int32) -> Int32
    let getvalue: @convention(c) (Result?, Int32, Int32) -> UnsafeMutablePointer<CChar>?
    let resultErrorMessage: @convention(c) (Result?) -> UnsafeMutablePointer<CChar>?
    let resultErrorField: @convention(c) (Result?, Int32) -> UnsafeMutablePointer<CChar>?
    let clear: @convention(c) (Result?) -> Void
    let getCancel: @convention(c) (Conn?) -> OpaquePointer?
    let freeCancel: @convention(c) (OpaquePointer?) -> Void
    let cancel: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32

    /// Resolves every function from `handle`; throws naming the ones missing.
    private init(_ handle: UnsafeMutableRawPointer) throws(PostgresError) {
        var missing: [String] = []
        func symbol<F>(_ name: String) -> F {
            guard let address = dlsym(handle, name) else {
                missing.append(name)
                return unsafeBitCast(UnsafeMutableRawPointer(bitPattern: 1)!, to: F.self)   // never called: init throws below
            }
            return unsafeBitCast(address, to: F.self)
        }
        connectdbParams = symbol("PQconnectdbParams")
        status = symbol("PQstatus")
        errorMessage = symbol("PQerrorMessage")
        finish = symbol("PQfinish")
        setNoticeProcessor = symbol("PQsetNoticeProcessor")
        socket = symbol("PQsocket")
        execParams = symbol("PQexecParams")
        resultStatus = symbol("PQresultStatus")
        ntuples = symbol("PQntuples")
        nfields = symbol("PQnfields")
        getisnull = symbol("PQgetisnull")
        getvalue = symbol("PQgetvalue")
        resultErrorMessage = symbol("PQresultErrorMessage")
        resultErrorField = symbol("PQresultErrorField")
        clear = symbol("PQclear")
        getCancel = symbol("PQgetCancel")
        freeCancel = symbol("PQfreeCancel")
        cancel = symbol("PQcancel")
        guard missing.isEmpty else { throw PostgresError("\(LibPQ.soname) lacks \(missing.joined(separator: ", "))") }
    }

    /// The library, loaded once per process; throws (every time) when it cannot be.
    package static func loaded() throws(PostgresError) -> LibPQ {
        switch shared {
        case .success(let pq): return pq
        case .failure(let error): throw error
        }
    }

    /// Whether this process has loaded libpq (tests: a process without a PostgreSQL store has not).
    package static var isMapped: Bool { dlopen(soname, RTLD_NOW | RTLD_NOLOAD) != nil }

    private static let shared: Swift.Result<LibPQ, PostgresError> = {
        guard let handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(PostgresError("cannot load \(soname) (install libpq5): \(why)"))
        }
        return Swift.Result { () throws(PostgresError) in try LibPQ(handle) }
    }()

    /// A message from libpq (an error) as trimmed text ("" for NULL); never a value, whose spaces are data.
    static func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }
}

/// Calls `body` with `strings` as an array of C strings (nil stays a null pointer), freed afterwards.
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies = strings.map { $0.map { strdup($0)! } }
    defer { copies.forEach { $0.map { free($0) } } }
    return body(copies.map { $0.map { UnsafePointer($0) } })
}

/// The pool's threads and the queue of work waiting for one. Each thread owns at most one connection.
private final class ConnectionPool: @unchecked Sendable {
    private let connectionString: String
    private let maximum: Int
    private let queueTimeout: Duration
    private let logger: Logger
    /// Guards everything below, every `Waiter`'s fields and every `QueryCanceller`'s `inFlight`.
    private let condition = NSCondition()
    private var queue: [Waiter] = []
    private var threads = 0
    private var idle = 0
    private var connections = 0
    private var stopping = false
    private var timeouts = 0

    /// One piece of work on its way to a connection. `run` is called exactly once: with a connection, or with the
    /// error that withdrew it (a queue timeout, its task's cancellation).
    final class Waiter: @unchecked Sendable {
        enum State { case new, queued, taken, withdrawn, finished }
        /// Set by `enqueue`.
        var run: @Sendable (PostgresConnection?, (any Error)?) -> Void = { _, _ in }
        var state = State.new
        /// Withdraws it after the queue timeout; set only when it queued behind busy connections.
        var timer: Task<Void, Never>?
        /// Cancels the query of the connection it runs on, while it runs.
        var canceller: QueryCanceller?
        /// Its task was cancelled after a thread took it and before it ran (while connecting): it must not run.
        var cancelled = false
        /// When it was queued (`MonotonicClock` nanoseconds, for the queue-wait timer).
        var queuedAt: UInt64 = 0
    }

    init(connection: String, maximum: Int, queueTimeout: Duration, logger: Logger) {
        connectionString = connection
        self.maximum = maximum
        self.queueTimeout = queueTimeout
        self.logger = logger
    }

    var openConnections: Int { condition.withLock { connections } }
    var queueTimeoutCount: Int { condition.withLock { timeouts } }
    var queuedCount: Int { condition.withLock { queue.count } }

    /// Runs `work` on a pool thread with a usable connection; returns (or throws) what it did. Throws
    /// `PostgresPoolBusy` when no connection took it within the queue timeout, `CancellationError` when its task was
    /// cancelled before it ran (it then never runs), and the server's SQLSTATE 57014 when cancelled while it ran.
    func perform<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                enqueue(waiter) { connection, failure in
                    guard let connection else { return continuation.resume(throwing: failure ?? PostgresError("no connection")) }
                    continuation.resume(with: Result { try work(connection) })
                }
            }
        } onCancel: {
            cancel(waiter)
        }
    }

    /// Queues `waiter` to `run` on a connection (or runs it at once with `CancellationError` if its task is cancelled).
    private func enqueue(_ waiter: Waiter, run: @escaping @Sendable (PostgresConnection?, (any Error)?) -> Void) {
        condition.lock()
        if Task.isCancelled {
            waiter.state = .withdrawn
            condition.unlock()
            return run(nil, CancellationError())
        }
        waiter.run = run
        waiter.state = .queued
        waiter.queuedAt = MonotonicClock.nanoseconds()
        queue.append(waiter)
        if queue.count > idle && threads < maximum {
            threads += 1
            let thread = Thread { [self] in serve() }
            thread.name = "porter-postgres"
            thread.start()
        } else {
            if queue.count > idle {
                // Every connection is busy: this waits for one to come free, at most `queueTimeout`.
                let timeout = queueTimeout
                waiter.timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    self?.withdraw(waiter, because: nil)
                }
            }
            condition.signal()
        }
        condition.unlock()
    }

    /// Takes `waiter` out of the queue if it is still there and fails it with `error` (nil: the queue timeout);
    /// false when it was not queued (any more).
    @discardableResult
    private func withdraw(_ waiter: Waiter, because error: (any Error)?) -> Bool {
        condition.lock()
        guard waiter.state == .queued, let index = queue.firstIndex(where: { $0 === waiter }) else {
            condition.unlock()
            return false
        }
        queue.remove(at: index)
        waiter.state = .withdrawn
        let timer = waiter.timer
        waiter.timer = nil
        let failure: any Error
        if let error {
            failure = error
        } else {
            timeouts += 1
            Counter(label: PostgresMetrics.queueTimeoutsLabel).increment()
            failure = PostgresPoolBusy(waited: queueTimeout, maximumConnections: maximum)
        }
        let count = timeouts
        condition.unlock()
        timer?.cancel()
        // Logged for the first and then every 100th: a flood must not flood the log.
        if error == nil, count == 1 || count % 100 == 0 {
            logger.warning("postgres: no connection came free within the queue timeout",
                           metadata: ["timeouts": .stringConvertible(count), "max_connections": .stringConvertible(maximum)])
        }
        waiter.run(nil, failure)
        return true
    }

    /// The task of `waiter` was cancelled: queued, it leaves the queue; running, its query is cancelled in the server
    /// (the work then fails with SQLSTATE 57014 and a transaction rolls back); taken but not yet running, it is not run.
    private func cancel(_ waiter: Waiter) {
        condition.lock()
        switch waiter.state {
        case .queued:
            condition.unlock()
            // A thread may take it in between: then its query is cancelled instead.
            if !withdraw(waiter, because: CancellationError()) { cancel(waiter) }
        case .taken:
            guard let canceller = waiter.canceller else {
                waiter.cancelled = true
                condition.unlock()
                return
            }
            canceller.inFlight += 1
            condition.unlock()
            Counter(label: PostgresMetrics.cancelsLabel).increment()
            // PQcancel connects to the server and waits for it: never on the cancelling (maybe a concurrency) thread.
            let thread = Thread { [self] in
                if let failure = canceller.cancel() {
                    logger.debug("postgres: cancel request failed", metadata: ["error": .string(failure)])
                }
                condition.withLock {
                    canceller.inFlight -= 1
                    condition.broadcast()
                }
            }
            thread.name = "porter-postgres-cancel"
            thread.start()
        case .new, .withdrawn, .finished:
            // New: `enqueue` sees the cancellation itself. Withdrawn or finished: nothing left to stop.
            condition.unlock()
        }
    }

    /// Stops: each thread finishes the queued work, closes its connection and ends.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    /// Changes the open-connection count and its gauge (called with the lock held).
    private func countConnections(_ change: Int) {
        connections += change
        Meter(label: PostgresMetrics.connectionsLabel).increment(by: Double(change))
    }

    /// How long a thread waits for work before it closes its connection and ends (PHP-FPM's `process_idle_timeout`).
    static let idleTimeout: TimeInterval = 60

    /// A pool thread: takes work until the queue is empty and the pool stops or no work came for `idleTimeout`.
    private func serve() {
        var connection: PostgresConnection?
        while true {
            condition.lock()
            var timedOut = false
            while queue.isEmpty && !stopping && !timedOut {
                idle += 1
                timedOut = !condition.wait(until: Date(timeIntervalSinceNow: Self.idleTimeout))
                idle -= 1
            }
            guard !queue.isEmpty else {
                threads -= 1
                if connection != nil { countConnections(-1) }
                condition.unlock()
                return // `connection` closes here
            }
            let waiter = queue.removeFirst()
            waiter.state = .taken
            let timer = waiter.timer
            waiter.timer = nil
            condition.unlock()
            timer?.cancel()
            Timer(label: PostgresMetrics.queueWaitLabel).recordNanoseconds(MonotonicClock.nanoseconds() &- waiter.queuedAt)

            if let open = connection, !open.isUsable {
                logger.info("postgres connection lost; reconnecting")
                connection = nil
                condition.withLock { countConnections(-1) }
            }
            if connection == nil {
                do {
                    connection = try PostgresConnection(connectionString)
                    condition.withLock { countConnections(1) }
                } catch {
                    logger.warning("\(error)")
                    condition.withLock { waiter.state = .finished }
                    waiter.run(nil, error)
                    continue
                }
            }
            let cancelled = condition.withLock {
                waiter.canceller = connection?.canceller
                return waiter.cancelled
            }
            waiter.run(cancelled ? nil : connection, cancelled ? CancellationError() : nil)
            condition.lock()
            waiter.state = .finished
            waiter.canceller = nil
            // A cancel request still on its way would hit the next query: wait until it reached the server.
            while let canceller = connection?.canceller, canceller.inFlight > 0 { condition.wait() }
            condition.unlock()
        }
    }
}

/// The pools' swift-metrics series (summed over a process's pools; on `/metrics` when Porter set up metrics, see
/// `PorterMetrics` in PorterOps), named for what an operator watches: saturation, waiting, refusals, cancellations.
public enum PostgresMetrics {
    /// Open connections (a gauge).
    public static let connectionsLabel = "porter_postgres_connections"
    /// How long work waited for a connection (a timer: a histogram in seconds).
    public static let queueWaitLabel = "porter_postgres_queue_wait_seconds"
    /// Work that waited the whole queue timeout and failed with `PostgresPoolBusy` (a counter).
    public static let queueTimeoutsLabel = "porter_postgres_queue_timeouts_total"
    /// Running queries cancelled in the server because their request ended (a counter).
    public static let cancelsLabel = "porter_postgres_cancels_total"
}

/// No pool connection came free within `postgres_queue_timeout_ms`: every connection was busy (a slow or stalled
/// database, or more concurrent work than `postgres_max_connections`). The request gets 503 with `Retry-After`
/// instead of waiting without end; nothing ran in the database.
public struct PostgresPoolBusy: HTTPResponseError, CustomStringConvertible {
    /// How long the work waited.
    public let waited: Duration
    /// The pool's size.
    public let maximumConnections: Int

    public var status: HTTPStatus { .serviceUnavailable }
    public var publicMessage: String { "The database is busy; please retry in a moment." }
    public var headers: HTTPHeaders { ["Retry-After": "1"] }
    public var description: String {
        "PostgreSQL: no connection came free within \(waited) (all \(maximumConnections) busy)"
    }
}

/// The tables a store creates on first use: once per store, in one transaction under a PostgreSQL advisory lock (so
/// processes starting together do not race), tried again on the next use after a failure.
public final class PostgresSchema: Sendable {
    private let lockKey: Int64
    private let statements: [String]
    private let created = Mutex<Task<Void, any Error>?>(nil)

    /// A schema created by `statements` under advisory lock `lockKey` (one key per table set).
    public init(lockKey: Int64, statements: [String]) {
        self.lockKey = lockKey
        self.statements = statements
    }

    /// Returns once the tables exist (creating them through `database` the first time).
    public func ready(_ database: PostgresService) async throws {
        let task = created.withLock { slot -> Task<Void, any Error> in
            if let existing = slot { return existing }
            let (key, statements) = (lockKey, self.statements)
            let made = Task {
                try await database.transaction { connection in
                    try connection.query("SELECT pg_advisory_xact_lock(\(key))")
                    for sql in statements { try connection.query(PostgresQuery(unsafeSQL: sql)) }
                }
            }
            slot = made
            return made
        }
        do {
            try await task.value
        } catch {
            created.withLock { if $0 == task { $0 = nil } }
            throw error
        }
    }
}

/// An application's PostgreSQL pools, one per connection setting: modules configured with the same database (the
/// session store and the work queue, say) share one `PostgresService`. Each module still hands the pool to the host
/// to run; running it more than once is harmless.
public final class PostgresPools: Sendable {
    private let pools = Mutex<[String: PostgresService]>([:])

    /// No pools yet.
    public init() {}

    /// The application's pools (made on first use).
    public static func shared(in services: ApplicationServices) -> PostgresPools {
        services.resolve(PostgresPools.self) { PostgresPools() }
    }

    /// The pool for the PostgreSQL keys in `options` (see `PostgresService.configuration(options:)`).
    public func pool(options: Options) throws -> PostgresService {
        let (connection, maximum, queueTimeout, key) = try PostgresService.configuration(options: options)
        // libpq loads here, while configuring: a missing libpq5 is a start-up error, not a failed first request.
        do { _ = try LibPQ.loaded() } catch { throw ConfigurationError("postgres: \(error.message)") }
        return pools.withLock { pools in
            if let pool = pools[key] { return pool }
            let pool = PostgresService(connection: connection, maximumConnections: maximum, queueTimeout: queueTimeout)
            pools[key] = pool
            return pool
        }
    }
}
