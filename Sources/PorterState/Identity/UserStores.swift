import Foundation
import GRDB
import Porter
import PorterHost

/// What a user name may be: 1-256 UTF-8 bytes, no invisible control (C0, DEL, C1, line separators, bidirectional
/// controls: `Unicode.Scalar.isInvisibleControl`). SQLite compares bound text only up to a NUL, so `bob\0anything` used to
/// find `bob`'s row and sign in as a name of its own, outside bob's throttle and quotas.
public enum UserName {
    /// The longest name, in UTF-8 bytes.
    public static let maxBytes = 256

    /// Whether `name` is a valid user name.
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxBytes
            && !name.unicodeScalars.contains(where: \.isInvisibleControl)
    }
}

/// Where a user's roles come from (ASP.NET's `RoleProvider`). Lookups are synchronous and quick (a local
/// SQLite read or a table in memory), so the PostAuthenticateRequest step stays on the worker thread.
public protocol RoleSource: Sendable {
    /// The roles of `user` (empty when unknown).
    func roles(for user: String) throws -> Set<String>
}

/// Checks user names and passwords for the login handler (ASP.NET's `MembershipProvider.ValidateUser`).
public protocol UserStore: Sendable {
    /// Whether `password` is `user`'s password. Takes about as long for unknown users as for known ones.
    func verify(user: String, password: String) throws -> Bool
}

/// Per-user ticket generations: a login ticket is honoured only while its generation is the user's current one,
/// so bumping it (logout, password change) revokes every ticket issued before, on every device.
public protocol TicketGenerations: Sendable {
    /// The user's current generation, or `nil` when the user does not exist (their tickets are refused).
    func generation(of user: String) throws -> Int64?
    /// Revokes every ticket of `user` issued so far.
    func bumpGeneration(of user: String) throws
}

/// Users, password hashes, ticket generations and roles in an SQLite file (GRDB, WAL): tables
/// `porter_users(name, password_hash, generation)` and `porter_user_roles(user, role)`. Passwords are stored only
/// as KDF hashes (`PasswordHasher`). A new user starts at a random generation (so re-creating a deleted user does
/// not revive their old tickets); a password change bumps it.
public final class SQLiteUserStore: UserStore, RoleSource, TicketGenerations {
    /// The database file.
    public let path: String
    /// The hasher for new and changed passwords.
    public let hasher: PasswordHasher
    let pool: DatabasePool
    private let dummyHash: String

    /// Opens (creating if needed) the user database at `path`.
    public init(path: String, hasher: PasswordHasher? = nil) throws {
        self.path = path
        self.hasher = try hasher ?? PasswordHasher()
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        try FileSystem.makeParentDirectory(of: path)
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS porter_users (
                    name TEXT PRIMARY KEY NOT NULL,
                    password_hash TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    generation INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE IF NOT EXISTS porter_user_roles (
                    user TEXT NOT NULL REFERENCES porter_users(name) ON DELETE CASCADE,
                    role TEXT NOT NULL,
                    PRIMARY KEY (user, role)
                );
                """)
            // Databases made before ticket generations existed.
            let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(porter_users)").map { $0["name"] as String }
            if !columns.contains("generation") {
                try db.execute(sql: "ALTER TABLE porter_users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
            }
        }
        // A hash to verify against when the user does not exist, so that unknown names cost the same time.
        dummyHash = try self.hasher.hash(Base64URL.encode(SecureRandom.bytes(12)))
    }

    /// Creates the user or changes their password (stored as a fresh salted hash); a change revokes the user's tickets.
    public func setPassword(_ password: String, for user: String) throws {
        guard UserName.isValid(user) else {
            throw ConfigurationError("a user name is 1-\(UserName.maxBytes) bytes without control characters")
        }
        let hash = try hasher.hash(password)
        let initial = Int64.random(in: 1...(1 << 52))
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO porter_users (name, password_hash, generation) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash, generation = porter_users.generation + 1
                """, arguments: [user, hash, initial])
        }
    }

    public func generation(of user: String) throws -> Int64? {
        guard UserName.isValid(user) else { return nil }
        return try pool.read { db in try Int64.fetchOne(db, sql: "SELECT generation FROM porter_users WHERE name = ?", arguments: [user]) }
    }

    public func bumpGeneration(of user: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE porter_users SET generation = generation + 1 WHERE name = ?", arguments: [user])
        }
    }

    /// Adds `role` to an existing user.
    public func addRole(_ role: String, to user: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO porter_user_roles (user, role) SELECT name, ? FROM porter_users WHERE name = ?",
                           arguments: [role, user])
        }
    }

    /// Removes `role` from `user`.
    public func removeRole(_ role: String, from user: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM porter_user_roles WHERE user = ? AND role = ?", arguments: [user, role])
        }
    }

    /// Deletes a user and their roles (their tickets are refused from then on).
    public func deleteUser(_ user: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM porter_user_roles WHERE user = ?", arguments: [user])
            try db.execute(sql: "DELETE FROM porter_users WHERE name = ?", arguments: [user])
        }
    }

    /// The stored hash of `user` (for inspection and tests).
    public func passwordHash(of user: String) throws -> String? {
        guard UserName.isValid(user) else { return nil }
        return try pool.read { db in try String.fetchOne(db, sql: "SELECT password_hash FROM porter_users WHERE name = ?", arguments: [user]) }
    }

    public func verify(user: String, password: String) throws -> Bool {
        let stored = try passwordHash(of: user)
        let ok = PasswordHasher.verify(password, against: stored ?? dummyHash)
        return stored != nil && ok
    }

    public func roles(for user: String) throws -> Set<String> {
        guard UserName.isValid(user) else { return [] }
        return try pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT role FROM porter_user_roles WHERE user = ?", arguments: [user]))
        }
    }
}

/// Roles from a group file, one role per line in the Apache `AuthGroupFile` style:
/// `admin: alice bob` (users separated by spaces or commas; `#` starts a comment).
public struct RolesFile: RoleSource, Equatable {
    /// user → roles.
    public let rolesByUser: [String: Set<String>]

    /// Parses the file's text; a line without `:` is an error (with its line number).
    public init(text: String, origin: String = "roles file") throws {
        var map: [String: Set<String>] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw ConfigurationError("\(origin):\(number + 1): expected `role: user user …`")
            }
            let role = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
            guard !role.isEmpty else { throw ConfigurationError("\(origin):\(number + 1): empty role name") }
            let users = trimmed[trimmed.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
            for user in users { map[String(user), default: []].insert(role) }
        }
        rolesByUser = map
    }

    /// Reads and parses the file at `path`.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("cannot read roles file \(path)")
        }
        try self.init(text: text, origin: path)
    }

    public func roles(for user: String) throws -> Set<String> { rolesByUser[user] ?? [] }
}
