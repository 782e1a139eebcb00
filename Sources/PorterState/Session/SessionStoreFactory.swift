import Logging
import Porter

/// Builds the configured session store from options.
public enum SessionStoreFactory {
    /// Reads `store` (`sqlite` default, `memory`, `postgres`) and its keys: `path`, `busy_timeout_ms` for SQLite;
    /// `postgres_url`, or `postgres_host`/`postgres_port`/`postgres_user`/`postgres_password`/`postgres_database`/
    /// `postgres_tls` for PostgreSQL.
    public static func make(options: Options, clock: WallClock = .system) throws -> any SessionStore {
        let kind = try options.string("store", default: "sqlite")
        switch kind {
        case "memory":
            return MemorySessionStore(clock: clock)
        case "sqlite":
            let path = try options.string("path", default: "porter-sessions.sqlite")
            let busy = try options.int("busy_timeout_ms", default: 5000)
            do {
                return try SQLiteSessionStore(path: path, clock: clock, busyTimeout: .milliseconds(busy))
            } catch {
                throw ConfigurationError("\(options.origin): cannot open session database \(path): \(error)")
            }
        case "postgres", "postgresql":
            if let url = try options.string("postgres_url") {
                return PostgresSessionStore(configuration: try PostgresService.configuration(url: url), clock: clock)
            }
            let configuration = try PostgresService.configuration(
                host: try options.string("postgres_host", default: "localhost"),
                port: try options.int("postgres_port", default: 5432),
                user: try options.string("postgres_user", default: "porter"),
                password: try options.string("postgres_password"),
                database: try options.string("postgres_database", default: "porter"),
                tls: try options.string("postgres_tls", default: "disable"))
            return PostgresSessionStore(configuration: configuration, clock: clock)
        default:
            throw ConfigurationError("\(options.origin): store must be sqlite, memory or postgres, got \(kind)")
        }
    }
}
