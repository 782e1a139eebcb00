import Foundation
public import Logging
public import Porter
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// One PostgreSQL connection pool (postgres-nio's `PostgresClient`) as a ServiceLifecycle `Service`: `run()`
/// runs the pool until graceful shutdown (or cancellation). Queries wait until it runs, so whatever builds a
/// store on it hands it to the host: `context.run(service)` in a catalogue builder, `app.run(service)` in code.
public final class PostgresService: Service, Sendable {
    /// The pool stores query through.
    public let client: PostgresClient

    /// A pool for `configuration`; connections open lazily once `run()` runs.
    public init(configuration: PostgresClient.Configuration,
                logger: Logger = Logger(label: "porter.postgres")) {
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// A pool for a `postgres://user:password@host:port/database` URL (see `configuration(url:)`).
    public convenience init(url: String, logger: Logger = Logger(label: "porter.postgres")) throws {
        self.init(configuration: try PostgresService.configuration(url: url), logger: logger)
    }

    private let started = Mutex(false)

    /// Runs the pool until graceful shutdown, then closes its connections and returns. The pool runs once: a
    /// second `run()` (the same service handed to a reloaded configuration's group) only waits for its shutdown.
    public func run() async throws {
        let first = started.withLock { was in defer { was = true }; return !was }
        guard first else {
            try? await gracefulShutdown()
            return
        }
        let client = self.client
        await cancelWhenGracefulShutdown { await client.run() }
    }

    /// Parses a `postgres://user:password@host:port/database` URL (`?sslmode=disable|prefer|require`;
    /// `?host=/run/postgresql` connects through that socket directory) into a client configuration.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw ConfigurationError("postgres_url must look like postgres://user:password@host:port/database")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        let user = c.user.map { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        let password = c.password.map { $0.removingPercentEncoding ?? $0 }
        var database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        if database.isEmpty { database = user }
        let port = c.port ?? 5432
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            return .init(unixSocketPath: "\(socketDir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        return try configuration(host: c.host ?? "localhost", port: port, user: user, password: password,
                                 database: database, tls: query["sslmode"] ?? "disable")
    }

    /// A TCP client configuration; `tls` is `disable`, `prefer` or `require`.
    public static func configuration(host: String, port: Int, user: String, password: String?, database: String,
                                     tls: String) throws -> PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS
        switch tls {
        case "disable": mode = .disable
        case "prefer": mode = .prefer(.makeClientConfiguration())
        case "require", "verify-full": mode = .require(.makeClientConfiguration())
        default: throw ConfigurationError("postgres tls/sslmode must be disable, prefer or require, got \(tls)")
        }
        return .init(host: host, port: port, username: user, password: password, database: database, tls: mode)
    }
}

extension PostgresService {
    /// Reads a module's PostgreSQL keys: `postgres_url`, or `postgres_host` (localhost), `postgres_port` (5432),
    /// `postgres_user` (porter), `postgres_password`, `postgres_database` (porter), `postgres_tls` (disable). Returns
    /// the client configuration and a key naming the setting (equal keys: the same database, so one pool serves both).
    public static func configuration(options: Options) throws -> (configuration: PostgresClient.Configuration, key: String) {
        if let url = try options.string("postgres_url") {
            return (try configuration(url: url), url)
        }
        let host = try options.string("postgres_host", default: "localhost")
        let port = try options.int("postgres_port", default: 5432)
        let user = try options.string("postgres_user", default: "porter")
        let password = try options.string("postgres_password")
        let database = try options.string("postgres_database", default: "porter")
        let tls = try options.string("postgres_tls", default: "disable")
        let configuration = try configuration(host: host, port: port, user: user, password: password, database: database, tls: tls)
        return (configuration, "\(user):\(password ?? "")@\(host):\(port)/\(database)?\(tls)")
    }
}

/// An application's PostgreSQL pools, one per connection setting: modules configured with the same database (the
/// session store and the work queue, say) share one `PostgresService`. Each module still hands the pool to the host
/// to run; a pool runs once however often it is handed over.
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
        let (configuration, key) = try PostgresService.configuration(options: options)
        return pools.withLock { pools in
            if let pool = pools[key] { return pool }
            let pool = PostgresService(configuration: configuration)
            pools[key] = pool
            return pool
        }
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

    /// Returns once the tables exist (creating them through `client` the first time).
    public func ready(_ client: PostgresClient, logger: Logger) async throws {
        let task = created.withLock { slot -> Task<Void, any Error> in
            if let existing = slot { return existing }
            let (key, statements) = (lockKey, self.statements)
            let made = Task {
                try await client.withTransaction(logger: logger) { conn in
                    try await conn.query("SELECT pg_advisory_xact_lock(\(key))", logger: logger)
                    for sql in statements { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
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
