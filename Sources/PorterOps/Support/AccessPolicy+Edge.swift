public import Porter
public import PorterHost

extension AccessPolicy {
    /// Whether nginx can enforce this policy alone (`allow 127.0.0.1; allow ::1; deny all;`): exactly the
    /// local-only policy, with no users or roles admitted from elsewhere (nginx cannot see who is signed in).
    public var isEnforceableByNginx: Bool { self == .localOnly() }

    /// The nginx policy for a route to a page guarded by the `local_only`/`allow_*` options (local-only by default).
    public static func edge(_ options: Options) throws -> EdgePolicy {
        EdgePolicy(localOnly: try AccessPolicy(options: options, localOnlyDefault: true).isEnforceableByNginx)
    }
}
