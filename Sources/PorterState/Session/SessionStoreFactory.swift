import Logging
import Porter

/// Builds the configured session store from options.
public enum SessionStoreFactory {
    /// Reads `store` (`sqlite` default, `memory`, `postgres`) and its keys: `path`, `busy_timeout_ms` for SQLite;
    /// `postgres_url`, or `postgres_host`/`postgres_port`/`postgres_user`/`postgres_password`/`postgres_database`/
    /// `postgres_tls` for PostgreSQL (a pool from `pools` when given, so other modules on the same database share it).
    public static func make(options: Options, clock: WallClock = .system, pools: PostgresPools? = nil) throws -> any SessionStore {
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
            if let pools { return PostgresSessionStore(database: try pools.pool(options: options), clock: clock) }
            let setting = try PostgresService.configuration(options: options)
            return PostgresSessionStore(database: PostgresService(connection: setting.connection,
                                                                  maximumConnections: setting.maximumConnections,
                                                                  queueTimeout: setting.queueTimeout), clock: clock)
        default:
            throw ConfigurationError("\(options.origin): store must be sqlite, memory or postgres, got \(kind)")
        }
    }
}
