import ArgumentParser
import PorterHost
import Glibc

/// `porter users`: manages the users database the authentication module and login handler use.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "Manage login users and roles (SQLite, PBKDF2 password hashes).",
                                                    subcommands: [Add.self, AddRole.self, Delete.self, SignOut.self])

    struct Database: ParsableArguments {
        @Option(name: [.customShort("d"), .long], help: "The users database.") var database: String = "data/users.sqlite"

        /// Opens the store, creating its directory first.
        func open() throws -> SQLiteUserStore {
            if let slash = database.lastIndex(of: "/") { _ = mkdir(String(database[..<slash]), 0o755) }
            return try SQLiteUserStore(path: database)
        }
    }

    /// `porter users add NAME --password P [--role R]`.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user or set their password (a change signs them out everywhere).")
        @OptionGroup var db: Database
        @Argument(help: "User name.") var name: String
        @Option(help: "Password (prefer --password-file).") var password: String?
        @Option(help: "Read the password from this file's first line.") var passwordFile: String?
        @Option(help: "Roles to add (repeatable).") var role: [String] = []

        func run() throws {
            guard let secret = try password ?? passwordFile.map({ path -> String in
                guard let text = FileText.read(path) else { throw ValidationError("cannot read \(path)") }
                return String(text.split(separator: "\n").first ?? "")
            }), !secret.isEmpty else { throw ValidationError("give --password or --password-file") }
            let store = try db.open()
            try store.setPassword(secret, for: name)
            for r in role { try store.addRole(r, to: name) }
            print("user \(name) saved\(role.isEmpty ? "" : " with roles \(role.joined(separator: ", "))")")
        }
    }

    /// `porter users add-role NAME ROLE`.
    struct AddRole: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-role", abstract: "Give a user a role.")
        @OptionGroup var db: Database
        @Argument var name: String
        @Argument var role: String
        func run() throws { try db.open().addRole(role, to: name) }
    }

    /// `porter users sign-out NAME`.
    struct SignOut: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sign-out", abstract: "Revoke every login cookie a user holds (all devices).")
        @OptionGroup var db: Database
        @Argument var name: String
        func run() throws {
            let store = try db.open()
            guard try store.generation(of: name) != nil else { throw ValidationError("no user \(name)") }
            try store.bumpGeneration(of: name)
            print("user \(name) signed out everywhere")
        }
    }

    /// `porter users delete NAME`.
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @OptionGroup var db: Database
        @Argument var name: String
        func run() throws { try db.open().deleteUser(name) }
    }
}
